"""postgres.wal_directory on real clusters: a new cluster writes its WAL there (pg_wal is a link
to it), a second apply changes nothing, `pgstead audit` names it; an existing cluster whose
WAL lives elsewhere is refused with what to do, and nothing is moved or created."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from tests.clusters import show, sql
from tests.pgstead_run import apply, pyinfra
from tests.test_audit_cli import audit

WAL_ROOT = Path("/var/lib/pgstead-test-wal")


@pytest.fixture
def wal_dir(env_file):
    where = WAL_ROOT / env_file.name
    yield where
    shutil.rmtree(where, ignore_errors=True)
    shutil.rmtree(f"{where}-moved", ignore_errors=True)
    shutil.rmtree(f"/var/log/postgresql/15-{env_file.name}", ignore_errors=True)


def refused(env_file) -> str:
    run = pyinfra("@local", env_file=env_file.path, state_dir=env_file.state_dir,
                  json_report=False)
    assert run.returncode != 0, run.stdout[-3000:]
    return run.stdout + run.stderr


def test_a_new_cluster_keeps_its_wal_in_wal_directory(env_file, wal_dir):
    env_file.data["postgres"]["wal_directory"] = str(wal_dir)
    env_file.write()
    apply(env_file.path, env_file.state_dir)
    assert apply(env_file.path, env_file.state_dir).changed == []
    pg_wal = Path(show(env_file.port, "data_directory")) / "pg_wal"
    assert pg_wal.is_symlink() and pg_wal.resolve() == wal_dir
    assert wal_dir.stat().st_mode & 0o777 == 0o700
    segment = sql(env_file.port, "SELECT pg_walfile_name(pg_current_wal_lsn())")
    sql(env_file.port, "CREATE TABLE wal_probe AS SELECT generate_series(1, 1000) AS n; "
                       "SELECT pg_switch_wal()")
    deadline = time.monotonic() + 30
    while not (wal_dir / segment).exists():
        assert time.monotonic() < deadline, f"{segment} never appeared in {wal_dir}"
        time.sleep(0.2)
    run = audit(env_file, "--format", "json")
    controls = {c["control"]: c for c in json.loads(run.stdout)["hosts"]["@local"]["controls"]}
    assert controls["wal_directory"]["status"] == "pass", controls["wal_directory"]
    assert controls["wal_directory"]["live"] == f"pg_wal -> {wal_dir}"

    # Another directory for the same cluster: refused, nothing moved, nothing made there.
    moved = Path(f"{wal_dir}-moved")
    env_file.data["postgres"]["wal_directory"] = str(moved)
    env_file.write()
    output = refused(env_file)
    assert (f"keeps its WAL in {wal_dir}, the file asks for postgres.wal_directory {moved}"
            in output), output[-3000:]
    assert not moved.exists() and pg_wal.resolve() == wal_dir


def test_an_existing_cluster_with_wal_in_its_data_directory_is_refused(env_file, wal_dir):
    apply(env_file.path, env_file.state_dir)
    env_file.data["postgres"]["wal_directory"] = str(wal_dir)
    env_file.write()
    output = refused(env_file)
    data = show(env_file.port, "data_directory")
    assert f"keeps its WAL in {data}/pg_wal" in output, output[-3000:]
    assert "never moves WAL" in output
    assert not wal_dir.exists()
    assert not (Path(data) / "pg_wal").is_symlink()
