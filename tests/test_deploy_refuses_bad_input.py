"""A bad environment file stops the real deploy before any host is touched: exit 2, the file,
YAML path and line on screen, and a running cluster left exactly as it was."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from tests.clusters import drop_cluster, fixed_port, postmaster_start, sql
from tests.conftest import EnvFile, base_environment
from tests.pgstead_run import apply, pyinfra
from tests.test_config_bad_inputs import BAD_INPUTS, expectation

PORT = 5695
CLUSTER = "bad_input_guard"


@pytest.fixture(scope="module", autouse=True)
def _port_held():
    """PORT and CLUSTER are fixed: another suite on this machine waits until this module ends."""
    with fixed_port(PORT):
        yield


def _snapshot() -> dict:
    """What a deploy could have touched: the guard cluster (running) and the default 15/main
    that the bad files would otherwise address. Other tests' clusters come and go meanwhile."""
    files = {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
             for name in ("main", CLUSTER)
             for p in sorted(Path("/etc/postgresql/15", name).rglob("*")) if p.is_file()}
    listing = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True,
                             check=True).stdout.splitlines()
    return {
        "clusters": [line.split() for line in listing if line.split()[1] in ("main", CLUSTER)],
        "started": postmaster_start(PORT),
        "settings": sql(PORT, "SELECT string_agg(name || '=' || setting, ',' ORDER BY name) "
                              "FROM pg_settings"),
        "files": files,
    }


@pytest.fixture(scope="module")
def running_cluster(tmp_path_factory):
    directory = tmp_path_factory.mktemp("guard")
    env = EnvFile(directory, CLUSTER, PORT, base_environment(CLUSTER, PORT))
    apply(env.path, env.state_dir)
    yield _snapshot()
    drop_cluster(15, CLUSTER)


@pytest.mark.parametrize("file", BAD_INPUTS, ids=[f.stem for f in BAD_INPUTS])
def test_deploy_refuses_bad_file_and_touches_nothing(file: Path, running_cluster, tmp_path):
    expected = expectation(file)
    run = pyinfra(expected.inventory or "@local", env_file=file, state_dir=tmp_path,
                  json_report=False)
    output = run.stdout + run.stderr
    assert run.returncode == 2, output
    where = f"{file}:{expected.line}: {expected.path}" if expected.path else f"{file}:"
    assert where in output, output
    assert "Starting operation" not in output
    assert _snapshot() == running_cluster
