"""Any value of the wrong shape anywhere yields located problems, never a crash."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
import yaml

from pgstead.config.load import check_file
from tests.test_config_load import CONTRACT

WRONG_VALUES = (None, 7, "x", [], {"a": 1})


def node_paths(node: object, path: tuple = ()) -> Iterator[tuple]:
    if path:
        yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from node_paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from node_paths(value, (*path, index))


def replaced(document: dict, path: tuple, value: object) -> dict:
    copied = copy.deepcopy(document)
    node = copied
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return copied


@pytest.fixture(scope="module")
def contract() -> dict:
    document = yaml.safe_load(CONTRACT.read_text())
    # Reach the optional shapes the example leaves out.
    document["tls"]["ca"] = {"cert": "ca.crt", "key": "ca.key"}
    document["tls"]["host_certs"] = {"db1": {"cert": "db1.crt", "key": "db1.key"}}
    document["users"][0]["attributes"] = ["createdb"]
    return document


def test_every_wrong_shape_is_reported_with_a_line(contract, tmp_path):
    file = tmp_path / "mutant.yml"
    for path in list(node_paths(contract)):
        for value in WRONG_VALUES:
            file.write_text(yaml.safe_dump(replaced(contract, path, value), sort_keys=False))
            report = check_file(file, resolve_secrets=False)
            assert (report.environment is None) == bool(report.errors), (path, value)
            assert all(p.line is not None for p in report.errors), (path, value, report.errors)
