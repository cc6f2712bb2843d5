"""Three fresh hosts over SSH in one pyinfra run: full environment, verified TLS logins,
idempotence, a sudo login, two clusters side by side, and a host that fails halfway.

One fleet per module: the first apply (PostgreSQL from Debian's mirror on three containers)
is paid once, and the tests read what it left behind, in file order.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import yaml

from pgstead.pki import cert_info, server_cert_paths
from pgstead.render.cron import backup_config_path, cron_file_path
from tests.hosts import Fleet, FleetHost, fleet
from tests.pgstead_run import PYINFRA, ROOT, Run, pyinfra

pytestmark = [pytest.mark.docker, pytest.mark.slow]

NAMES = ["db1", "db2", "db3"]
SUDO_HOST = "db3"
PORT = 5433
DATABASE = "app"
APP_USER = "app_rw"
PASSWORD = secrets.token_urlsafe(18)  # reaches pgstead through $FLEET_APP_PW only
SECRETS_ENV = {"FLEET_APP_PW": PASSWORD}


def environment(name: str, port: int, subnet: str) -> dict:
    return {
        "name": name,
        "postgres": {
            "version": 15, "install": "native", "cluster": name, "port": port,
            "listen_addresses": ["*"],
            "tuning": {"profile": "web", "memory": "1GB", "cpus": 2},
            "settings": {"max_connections": 40, "log_connections": "on"},
        },
        "tls": {"enabled": True, "ca": "generate", "require": True},
        "databases": [{"name": DATABASE, "owner": "app_owner", "schemas": ["game"]}],
        "users": [
            {"name": "app_owner", "password": {"generate": True}, "role": "owner",
             "database": DATABASE},
            {"name": APP_USER, "password": {"env": "FLEET_APP_PW"}, "role": "readwrite",
             "database": DATABASE, "connection_limit": 20},
        ],
        "hba": [{"type": "hostssl", "database": DATABASE, "user": APP_USER, "address": subnet,
                 "method": "scram-sha-256"}],
        "backups": {"enabled": True, "schedule": "17 3 * * *", "dir": f"/var/backups/{name}",
                    "keep": 3},
    }


@dataclass
class Deployment:
    """The fleet, its inventory with the environment YAML beside it, and the state dir."""

    fleet: Fleet
    inventory: Path
    env_path: Path
    state_dir: Path
    first: Run
    first_seconds: float

    @property
    def data(self) -> dict:
        return yaml.safe_load(self.env_path.read_text())

    def write(self, data: dict) -> None:
        self.env_path.write_text(yaml.safe_dump(data, sort_keys=False))

    def ca(self, name: str = "fleet") -> Path:
        return self.state_dir / name / "pki" / "ca.crt"

    def run(self, *args: str, **kw) -> Run:
        return pyinfra(str(self.inventory), *args, state_dir=self.state_dir,
                       extra_env=SECRETS_ENV, **kw)


def remote_commands(run: Run) -> dict[str, int]:
    """Remote commands per host in a -vv run's output."""
    return {name: run.stderr.count(f"[{name}] >>> ") for name in NAMES}


def changes(run: Run) -> set[tuple[str, str]]:
    """(operation, host) pairs an apply changed, or a dry run says it would change."""
    assert run.report is not None, run.stderr[-4000:]
    if run.report.get("results"):
        return {(op["name"], h) for op in run.report["results"]["operations"]
                for h in op["success"]}
    return {(op["name"], h) for op in run.report["plan"] for h in op["hosts_with_change"]}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Iterator[Deployment]:
    directory = tmp_path_factory.mktemp("fleet")
    with fleet(directory, NAMES, sudo=(SUDO_HOST,)) as hosts:
        # The environment file beside the inventory: deploy.py finds it without --data.
        inventory = hosts.write_inventory(directory / "fleet.py")
        env_path = directory / "fleet.yml"
        env_path.write_text(yaml.safe_dump(environment("fleet", PORT, hosts.subnet),
                                           sort_keys=False))
        state_dir = directory / "state"
        started = time.monotonic()
        # -vv prints every remote command (`[host] >>> ...`), to count them.
        first = pyinfra(str(inventory), "-vv", state_dir=state_dir, extra_env=SECRETS_ENV)
        seconds = time.monotonic() - started
        assert first.returncode == 0, f"{first.stdout[-3000:]}\n{first.stderr[-6000:]}"
        print(f"\nfleet: first apply of {len(NAMES)} fresh hosts took {seconds:.0f} s, "
              f"{remote_commands(first)} remote commands", file=sys.stderr)
        yield Deployment(hosts, inventory, env_path, state_dir, first, seconds)


def connect(deployment: Deployment, h: FleetHost, *, port: int = PORT, env: str = "fleet",
            **params: object) -> psycopg.Connection:
    params = {"host": h.name, "hostaddr": h.address, "user": APP_USER, "password": PASSWORD,
              "sslmode": "verify-full", **params}
    return psycopg.connect(port=port, dbname=DATABASE, sslrootcert=str(deployment.ca(env)),
                           connect_timeout=30, autocommit=True, **params)


def host_file(h: FleetHost, path: str) -> str:
    return h.exec("cat", path).stdout


def postmaster_start(h: FleetHost, port: int) -> str:
    return h.exec("runuser", "-u", "postgres", "--", "psql", "-X", "-A", "-t", "-p", str(port),
                  "-c", "SELECT pg_postmaster_start_time()").stdout.strip()


def test_one_run_converges_all_three_fresh_hosts(deployment):
    results = deployment.first.report["results"]
    assert results["failed_hosts"] == []
    for name in NAMES:
        assert any(name in op["success"] for op in results["operations"]), name
    for h in deployment.fleet.hosts:
        clusters = h.exec("pg_lsclusters", "--no-header").stdout.split()
        assert clusters[:4] == ["15", "fleet", str(PORT), "online"], clusters


def test_each_host_verifies_by_its_own_name_and_address(deployment):
    for h in deployment.fleet.hosts:
        with connect(deployment, h) as conn:
            row = conn.execute("SELECT current_user, ssl FROM pg_stat_ssl"
                               " WHERE pid = pg_backend_pid()").fetchone()
            assert row == (APP_USER, True)
            assert conn.execute("SELECT inet_server_addr()::text").fetchone() == (
                f"{h.address}/32",)
        crt, _ = server_cert_paths(deployment.state_dir / "fleet" / "pki", h.name)
        sans = cert_info(crt.read_bytes()).sans
        assert sans[:2] == (h.name, h.address)
        # The neighbour's name is not in this host's certificate.
        other = next(o for o in deployment.fleet.hosts if o is not h)
        with pytest.raises(psycopg.OperationalError, match="does not match host name"):
            connect(deployment, h, host=other.name)


def test_plain_tcp_is_refused_because_tls_is_required(deployment):
    h = deployment.fleet.hosts[0]
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        connect(deployment, h, sslmode="disable")


def test_sudo_host_logs_in_as_deploy_and_gets_acl_installed(deployment):
    h = deployment.fleet.host(SUDO_HOST)
    assert (h.user, h.sudo) == ("deploy", True)
    assert h.exec("dpkg-query", "-W", "-f", "${Status}", "acl").stdout == (
        "install ok installed")
    # Its uploads, made as postgres through sudo, landed with the right owner and mode.
    key = h.exec("stat", "-c", "%U %a", "/etc/postgresql/15/fleet/server.key").stdout.split()
    assert key == ["postgres", "600"]


def test_backups_are_scheduled_and_cron_runs_on_every_host(deployment):
    for h in deployment.fleet.hosts:
        entry = host_file(h, cron_file_path("fleet"))
        assert "17 3 * * * postgres /usr/local/sbin/pgstead-backup" in entry
        assert h.exec("pgrep", "-x", "cron", check=False).returncode == 0, h.name
        assert f"PGPORT={PORT}" in host_file(h, backup_config_path("fleet"))


def test_second_apply_changes_nothing_on_any_host(deployment):
    started = time.monotonic()
    second = deployment.run("-vv")
    seconds = time.monotonic() - started
    assert second.returncode == 0, second.stderr[-6000:]
    assert changes(second) == set()
    assert second.report["results"]["failed_hosts"] == []
    print(f"\nfleet: no-change re-apply took {seconds:.0f} s, "
          f"{remote_commands(second)} remote commands", file=sys.stderr)


def test_planned_files_are_the_files_on_the_hosts(deployment, tmp_path):
    out = tmp_path / "plan"
    plan = subprocess.run(
        [sys.executable, "-m", "pgstead.cli", "plan", str(deployment.env_path), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, **SECRETS_ENV, "PGSTEAD_STATE_DIR": str(deployment.state_dir)})
    assert plan.returncode == 0, plan.stderr
    for h in deployment.fleet.hosts:
        assert (out / "pg_hba.conf").read_text() == host_file(
            h, "/etc/postgresql/15/fleet/pg_hba.conf")
        assert (out / "cron.d" / "pgstead-backup-fleet").read_text() == host_file(
            h, cron_file_path("fleet"))
        assert (out / "backup-fleet.conf").read_text() == host_file(
            h, backup_config_path("fleet"))


def first_cluster_state(h: FleetHost) -> str:
    """Start time of the first cluster's postmaster and digests of every file it owns."""
    files = ["/etc/postgresql/15/fleet/pg_hba.conf", "/etc/postgresql/15/fleet/server.crt",
             "/etc/postgresql/15/fleet/server.key", "/etc/postgresql/15/fleet/root.crt",
             "/var/lib/postgresql/15/fleet/postgresql.auto.conf", cron_file_path("fleet"),
             backup_config_path("fleet")]
    return postmaster_start(h, PORT) + "\n" + h.exec("sha256sum", *files).stdout


def test_second_cluster_on_one_host_leaves_the_first_alone(deployment, tmp_path):
    h = deployment.fleet.host("db1")
    before = first_cluster_state(h)
    second = environment("fleet2", PORT + 1, deployment.fleet.subnet)
    second["users"][1]["connection_limit"] = 7
    env_path = tmp_path / "fleet2.yml"
    env_path.write_text(yaml.safe_dump(second, sort_keys=False))
    inventory = deployment.fleet.write_inventory(tmp_path / "one.py", names=["db1"])

    def run_second() -> Run:
        run = pyinfra(str(inventory), env_file=env_path, state_dir=deployment.state_dir,
                      extra_env=SECRETS_ENV)
        assert run.returncode == 0, run.stderr[-6000:]
        return run

    applied = changes(run_second())
    assert any("15/fleet2:5434" in op for op, _ in applied)
    assert not [op for op, _ in applied if "15/fleet:" in op or "-fleet " in op], applied
    assert first_cluster_state(h) == before, "the second environment touched the first cluster"

    clusters = {tuple(line.split()[:4])
                for line in h.exec("pg_lsclusters", "--no-header").stdout.splitlines()}
    assert {("15", "fleet", "5433", "online"), ("15", "fleet2", "5434", "online")} <= clusters
    # Its own certificate authority, users and limits, its own backup schedule.
    with connect(deployment, h, port=PORT + 1, env="fleet2") as conn:
        assert conn.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user"
                            ).fetchone() == (7,)
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        connect(deployment, h, port=PORT + 1, env="fleet")
    assert "PGPORT=5434" in host_file(h, backup_config_path("fleet2"))
    assert f"--config {backup_config_path('fleet2')}" in host_file(h, cron_file_path("fleet2"))

    # Neither environment's apply now changes anything on either.
    assert changes(run_second()) == set()
    again = deployment.run()
    assert again.returncode == 0, again.stderr[-6000:]
    assert changes(again) == set()
    assert first_cluster_state(h) == before


def run_killing_ssh_of(deployment: Deployment, victim: FleetHost, when: str) -> Run:
    """Apply, and stop `victim`'s sshd once pyinfra's progress shows `when`.

    sshd is the container's PID 1, so the host goes down whole, PostgreSQL included, as a VM
    that crashes mid-run.
    """
    cmd = [PYINFRA, "--json", "-y", str(deployment.inventory), "deploy.py"]
    environ = {**os.environ, **SECRETS_ENV, "PGSTEAD_STATE_DIR": str(deployment.state_dir)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=environ, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    stdout: list[str] = []
    reader = threading.Thread(target=lambda: stdout.append(proc.stdout.read()), daemon=True)
    reader.start()
    stderr, killed = [], False
    for line in proc.stderr:
        stderr.append(line)
        if not killed and when in line:
            victim.exec("pkill", "sshd", check=False)
            killed = True
    proc.wait(timeout=600)
    reader.join(timeout=60)
    assert killed, f"the run never showed {when!r}:\n{''.join(stderr)[-4000:]}"
    text = "".join(stdout)
    report = json.loads(text) if text.strip().startswith("{") else None
    return Run(proc.returncode, text, "".join(stderr), report)


def test_host_lost_halfway_is_reported_and_the_next_run_converges_it(deployment):
    victim = deployment.fleet.host("db2")
    victim.exec("runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-p", str(PORT), "-d",
                DATABASE, "-c", "SET ROLE app_owner; CREATE TABLE game.kept (v text); "
                "INSERT INTO game.kept VALUES ('before the failure')")
    data = deployment.data
    data["postgres"]["settings"]["shared_buffers"] = "160MB"  # a restart on every host
    data["users"].append({"name": "late_ro", "password": {"env": "FLEET_APP_PW"},
                          "role": "readonly", "database": DATABASE, "connection_limit": 2})
    deployment.write(data)

    broken = run_killing_ssh_of(deployment, victim, "Starting operation: PostgreSQL settings")
    assert broken.returncode != 0
    others_finished = broken.report is not None
    if others_finished:
        assert broken.report["results"]["failed_hosts"] == ["db2"]
        for h in deployment.fleet.hosts:
            if h is victim:
                continue
            with connect(deployment, h) as conn:
                assert conn.execute("SHOW shared_buffers").fetchone() == ("160MB",)
                assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = 'late_ro'"
                                    ).fetchone() == (1,)
    else:
        # When sshd dies while pyinfra opens a channel, paramiko raises EOFError, which pyinfra
        # 3 does not treat as a lost host: the whole run stops, naming the host. The other
        # hosts then finish on the next run, as db2 does.
        assert "EOFError" in broken.stderr and "Host(db2)" in broken.stderr, broken.stderr[-4000:]

    deployment.fleet.start_again(victim)
    repaired = deployment.run()
    assert repaired.returncode == 0, repaired.stderr[-6000:]
    repaired_hosts = {host for _, host in changes(repaired)}
    assert "db2" in repaired_hosts, "the failed host still had work to do"
    if others_finished:
        assert repaired_hosts == {"db2"}, changes(repaired)
    for h in deployment.fleet.hosts:
        with connect(deployment, h) as conn:
            assert conn.execute("SHOW shared_buffers").fetchone() == ("160MB",)
            assert conn.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = 'late_ro'"
                                ).fetchone() == (2,)
    with connect(deployment, victim) as conn:
        assert conn.execute("SELECT v FROM game.kept").fetchall() == [("before the failure",)]
    assert changes(deployment.run()) == set()
