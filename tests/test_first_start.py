"""A new cluster starts once, with its declared settings already in place: the cluster role
creates it stopped, the settings role writes its parameters (ALTER SYSTEM in a standalone
backend) and starts it, so a first apply restarts nothing. A stopped cluster is handled the
same way; a rejected value leaves it as it was."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.clusters import postmaster_start, show, sql
from tests.pgstead_run import apply, dry, run_deploy_file

READY = "database system is ready to accept connections"
RELOADED = "received SIGHUP, reloading configuration files"


def now() -> str:
    """The time as the server's log lines begin (%m, in UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:23]


def _log_lines(name: str, port: int) -> list[str]:
    logs = [Path(f"/var/log/postgresql/postgresql-15-{name}.log")]
    if show(port, "logging_collector") == "on":
        log_dir = Path(show(port, "log_directory"))
        if not log_dir.is_absolute():
            log_dir = Path(show(port, "data_directory")) / log_dir
        logs += sorted(log_dir.iterdir())
    return [line for path in logs if path.exists()
            for line in path.read_text(errors="replace").splitlines()]


def server_starts(name: str, port: int, since: str) -> int:
    """How many times the cluster's postmaster became ready since `since`, from its logs:
    Debian's log file (before the logging collector is on) and the collector's files (once it
    is). Earlier runs of a test leave logs under the same name: their lines are older.

    The collector writes the postmaster's lines some time after they were sent (seconds on a
    busy machine), in the order they were sent: a reload's line, asked for now and waited for,
    comes after every start's."""
    asked = now()
    sql(port, "SELECT pg_reload_conf()")
    deadline = time.monotonic() + 120
    while not any(RELOADED in line and line[:23] >= asked for line in _log_lines(name, port)):
        assert time.monotonic() < deadline, "the reload's line never reached the server log"
        time.sleep(0.2)
    return sum(1 for line in _log_lines(name, port) if READY in line and line[:23] >= since)


def auto_conf(port: int) -> Path:
    return Path(show(port, "data_directory")) / "postgresql.auto.conf"


def stop(name: str) -> None:
    subprocess.run(["pg_ctlcluster", "15", name, "stop"], check=True, capture_output=True)


def test_first_apply_starts_the_cluster_once_with_its_postmaster_settings(env_file):
    env_file.data["postgres"]["settings"]["shared_buffers"] = "160MB"
    env_file.write()
    since = now()
    first = apply(env_file.path, env_file.state_dir)
    assert first.failed == []
    # Postmaster-context parameters are live: the one start read them.
    assert show(env_file.port, "shared_buffers") == "160MB"
    assert show(env_file.port, "max_connections") == "50"
    assert show(env_file.port, "log_connections") == "on"
    assert sql(env_file.port, "SELECT count(*) FROM pg_settings WHERE pending_restart") == "0"
    assert server_starts(env_file.name, env_file.port, since) == 1
    # Written as ALTER SYSTEM writes it, so the settings operation owns what it finds.
    assert "shared_buffers = '160MB'" in auto_conf(env_file.port).read_text()

    started = postmaster_start(env_file.port)
    second = apply(env_file.path, env_file.state_dir)
    assert second.changed == [], f"second apply changed: {second.changed}"
    assert postmaster_start(env_file.port) == started


def test_plan_of_a_fresh_host_lists_the_settings_written_before_the_first_start(env_file):
    plan = dry(env_file.path, env_file.state_dir)
    assert any("Cluster" in name for name in plan.changed)
    assert any("Parameters" in name for name in plan.changed)
    notes = [line for line in plan.stderr.splitlines() if "(before the server starts)" in line]
    assert any("max_connections: -> 50" in line for line in notes), plan.stderr[-3000:]
    assert any("shared_buffers: -> " in line for line in notes)

    applied = apply(env_file.path, env_file.state_dir)
    assert applied.changed == plan.changed


def test_stopped_cluster_gets_its_changed_settings_before_it_starts(env_file):
    env_file.data["postgres"]["settings"]["autovacuum_naptime"] = "2min"
    env_file.write()
    apply(env_file.path, env_file.state_dir)
    stop(env_file.name)
    env_file.data["postgres"]["settings"].update({"shared_buffers": "144MB", "work_mem": "7MB"})
    del env_file.data["postgres"]["settings"]["autovacuum_naptime"]
    env_file.write()
    run = apply(env_file.path, env_file.state_dir)
    assert run.failed == []
    assert show(env_file.port, "shared_buffers") == "144MB"
    assert show(env_file.port, "work_mem") == "7MB"
    # RESET ALL first: what the file no longer declares is gone.
    assert show(env_file.port, "autovacuum_naptime") == "1min"
    assert "autovacuum_naptime" not in auto_conf(env_file.port).read_text()
    assert sql(env_file.port, "SELECT count(*) FROM pg_settings WHERE pending_restart") == "0"
    assert apply(env_file.path, env_file.state_dir).changed == []


BAD_VALUE_DEPLOY = """
from pgstead.operations.settings import parameters
from pgstead.server.psql import Server

parameters(name="a rejected value", server=Server(15, {cluster!r}, {port}),
           settings={{"work_mem": "12MB", "shared_buffers": "lots"}})
"""


def test_rejected_value_on_a_stopped_cluster_leaves_it_as_it_was(env_file, tmp_path):
    apply(env_file.path, env_file.state_dir)
    conf = auto_conf(env_file.port)
    before = conf.read_text()
    stop(env_file.name)
    proc = run_deploy_file(BAD_VALUE_DEPLOY.format(cluster=env_file.name, port=env_file.port),
                           tmp_path)
    assert proc.returncode != 0
    assert "postgresql.auto.conf is as before" in proc.stdout + proc.stderr
    assert conf.read_text() == before
    clusters = subprocess.run(["pg_lsclusters", "--no-header", "15", env_file.name],
                              capture_output=True, text=True, check=True).stdout
    assert "down" in clusters
