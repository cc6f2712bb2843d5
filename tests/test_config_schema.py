"""The JSON Schema itself: valid 2020-12, documented, closed, and true to the contract."""

from __future__ import annotations

from collections.abc import Iterator

import yaml
from jsonschema import Draft202012Validator

from pgstead.config.schema import environment_schema, schema_problems
from tests.test_config_load import CONTRACT


def objects(node: object, where: str = "#") -> Iterator[tuple[str, dict]]:
    """Every subschema that declares properties (not `if` conditions), with its location."""
    if isinstance(node, dict):
        if "properties" in node:
            yield where, node
        for key, value in node.items():
            if key != "if":
                yield from objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from objects(value, f"{where}/{index}")


def test_schema_is_valid_draft_2020_12():
    Draft202012Validator.check_schema(environment_schema())
    assert environment_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_every_property_has_a_description_and_a_default():
    missing = [
        f"{where}/{name}: {what}"
        for where, node in objects(environment_schema())
        for name, prop in node["properties"].items()
        for what in ("description", "default")
        if what not in prop
    ]
    assert missing == []


def test_every_object_is_closed():
    open_objects = [where for where, node in objects(environment_schema())
                    if node.get("additionalProperties") is not False]
    # settings and host_certs take any key, but each value still has a closed schema.
    assert open_objects == []


def test_the_contract_example_passes_the_schema():
    document = yaml.safe_load(CONTRACT.read_text())
    assert list(schema_problems(document)) == []


def test_every_contract_key_is_in_the_schema():
    document = yaml.safe_load(CONTRACT.read_text())
    schema = environment_schema()

    def walk(data: object, node: dict, path: str) -> Iterator[str]:
        node = _resolve(node, schema)
        if isinstance(data, dict) and "properties" in node:
            for key, value in data.items():
                if key not in node["properties"]:
                    yield f"{path}.{key}"
                else:
                    yield from walk(value, node["properties"][key], f"{path}.{key}")
        elif isinstance(data, list) and "items" in node:
            for item in data:
                yield from walk(item, node["items"], f"{path}[]")

    assert list(walk(document, schema, "")) == []


def _resolve(node: dict, schema: dict) -> dict:
    if "$ref" in node:
        return _resolve(schema["$defs"][node["$ref"].rsplit("/", 1)[1]], schema)
    return node
