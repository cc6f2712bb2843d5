"""A single server on a host booted by systemd, as a Debian VM is: PostgreSQL, pgbouncer and
the exporter from Debian's mirror on a fresh pgstead/host-systemd container, over SSH.

pgstead's daemons run as systemd units of its own (pgstead-<name>.service), not under
pgstead-supervise; the packages' own instances (pgbouncer.service and
prometheus-postgres-exporter.service, which would hold the same ports) neither run nor start
at boot; systemd restarts a killed pgbouncer; a restarted container (a reboot) brings the
server, the pooler and the exporter back by itself; removing the pooler and the exporter
removes their units. One host for the module; the tests run in
file order and read what the earlier ones left.
"""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import yaml

from tests.ha_cluster import assert_converged, assert_ok, wait_for
from tests.hosts import SYSTEMD_HOST_IMAGE, Fleet, FleetHost, fleet
from tests.pgstead_run import Run, pyinfra
from tests.systemd_units import (
    active_and_enabled,
    listeners,
    main_pid,
    supervise_leftovers,
    unit,
    unit_of,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

NAME = "sdsingle"
PORT = 5432
POOLER_PORT = 6432  # Debian's own pgbouncer listens here too
EXPORTER_PORT = 9187  # and Debian's own exporter here, on every address
DATABASE = "app"
USER = "app_rw"
PASSWORD = secrets.token_urlsafe(18)  # reaches pgstead through $SD_APP_PW only
SECRETS_ENV = {"SD_APP_PW": PASSWORD}

SERVER_UNIT = f"postgresql@15-{NAME}.service"
PGBOUNCER_UNIT = f"pgstead-pgbouncer-{NAME}.service"
EXPORTER_UNIT = f"pgstead-exporter-{NAME}.service"
PACKAGE_UNITS = ("pgbouncer.service", "prometheus-postgres-exporter.service")

_METRICS = ("import urllib.request; print(urllib.request.urlopen("
            f"'http://127.0.0.1:{EXPORTER_PORT}/metrics', timeout=10).read().decode())")


def environment(subnet: str) -> dict:
    return {
        "name": NAME,
        "postgres": {
            "version": 15, "install": "native", "cluster": NAME, "port": PORT,
            "listen_addresses": ["*"],
            "tuning": {"profile": "web", "memory": "1GB", "cpus": 2},
            "settings": {"max_connections": 60},
        },
        "tls": {"enabled": True, "ca": "generate", "require": True},
        "databases": [{"name": DATABASE, "owner": "app_owner"}],
        "users": [
            {"name": "app_owner", "password": {"generate": True}, "role": "owner",
             "database": DATABASE, "connection_limit": 10},
            {"name": USER, "password": {"env": "SD_APP_PW"}, "role": "readwrite",
             "database": DATABASE, "connection_limit": 20},
        ],
        "hba": [{"type": "hostssl", "database": DATABASE, "user": USER, "address": subnet,
                 "method": "scram-sha-256"}],
        "pooler": {"enabled": True, "port": POOLER_PORT, "listen_addresses": ["*"]},
        "monitoring": {"exporter": True, "statements": True},
    }


@dataclass
class Single:
    fleet: Fleet
    inventory: Path
    state_dir: Path

    @property
    def env_path(self) -> Path:
        return self.inventory.with_suffix(".yml")

    @property
    def host(self) -> FleetHost:
        return self.fleet.hosts[0]

    def run(self, *args: str) -> Run:
        return pyinfra(str(self.inventory), *args, state_dir=self.state_dir,
                       extra_env=SECRETS_ENV)

    def pooled(self) -> psycopg.Connection:
        """A login through pgbouncer from the controller: SCRAM over verify-full."""
        h = self.host
        return psycopg.connect(host=h.name, hostaddr=h.address, port=POOLER_PORT,
                               dbname=DATABASE, user=USER, password=PASSWORD,
                               sslmode="verify-full", require_auth="scram-sha-256",
                               sslrootcert=str(self.state_dir / NAME / "pki" / "ca.crt"),
                               connect_timeout=10, autocommit=True)

    def pooled_login_works(self) -> bool:
        with self.pooled() as conn:
            return conn.execute("SELECT current_user").fetchone()[0] == USER

    def metrics(self) -> str:
        out = self.host.exec("python3", "-c", _METRICS, check=False)
        return out.stdout if out.returncode == 0 else ""


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> Iterator[Single]:
    directory = tmp_path_factory.mktemp("systemd-single")
    with fleet(directory, ["sd1"], image=SYSTEMD_HOST_IMAGE, systemd=True) as hosts:
        inventory = hosts.write_inventory(directory / f"{NAME}.py")
        (directory / f"{NAME}.yml").write_text(yaml.safe_dump(environment(hosts.subnet),
                                                              sort_keys=False))
        s = Single(hosts, inventory, directory / "state")
        started = time.monotonic()
        first = s.run()
        assert_ok(first, "first apply")
        print(f"\nsystemd single: first apply of a fresh systemd host took "
              f"{time.monotonic() - started:.0f} s", file=sys.stderr)
        yield s


def test_second_apply_changes_nothing_and_a_dry_run_predicts_nothing(single):
    assert_converged(single)


def test_the_daemons_run_as_enabled_systemd_units_not_under_pgstead_supervise(single):
    h = single.host
    for name in (PGBOUNCER_UNIT, EXPORTER_UNIT):
        assert active_and_enabled(h, name), unit(h, name)
    # The cluster runs in its instance unit (pg_ctlcluster starts it through systemctl), which
    # boot starts through postgresql.service, enabled (its generator reads start.conf).
    assert unit(h, SERVER_UNIT)["ActiveState"] == "active", unit(h, SERVER_UNIT)
    assert unit(h, "postgresql.service")["UnitFileState"] == "enabled"
    for name, program in ((PGBOUNCER_UNIT, "pgbouncer"),
                          (EXPORTER_UNIT, "prometheus-postgres-exporter")):
        pid = main_pid(h, name)
        assert pid > 0, unit(h, name)
        assert unit_of(h, pid) == name
        assert h.exec("cat", f"/proc/{pid}/comm").stdout.strip() == program[:15]
    assert supervise_leftovers(h) == ""


def test_the_packages_own_instances_neither_run_nor_start_at_boot(single):
    h = single.host
    for name in PACKAGE_UNITS:
        state = unit(h, name)
        assert state["ActiveState"] in ("inactive", "failed"), (name, state)
        assert state["UnitFileState"] != "enabled", (name, state)
    # Debian's default cluster was not created.
    assert h.exec("test", "-e", "/etc/postgresql/15/main", check=False).returncode == 1
    # pgstead's own hold the ports the packages' instances would have taken.
    assert listeners(h, POOLER_PORT, "postgres") == {main_pid(h, PGBOUNCER_UNIT)}
    assert listeners(h, EXPORTER_PORT, "prometheus") == {main_pid(h, EXPORTER_UNIT)}


def test_logins_go_through_the_pooler_and_the_exporter_reads_the_server(single):
    assert single.pooled_login_works()
    text = wait_for(lambda: (m := single.metrics()) and "pg_up 1" in m and m,
                    "the exporter's metrics with pg_up 1", timeout=120)
    assert "pg_stat_statements" in text


def test_a_killed_pgbouncer_is_started_again_by_systemd(single):
    h = single.host
    before = main_pid(h, PGBOUNCER_UNIT)
    restarts = int(unit(h, PGBOUNCER_UNIT)["NRestarts"])
    h.exec("kill", "-KILL", str(before))
    wait_for(lambda: (s := unit(h, PGBOUNCER_UNIT))["ActiveState"] == "active"
             and int(s["MainPID"]) not in (0, before) and s,
             "systemd starting pgbouncer again", timeout=180)
    assert int(unit(h, PGBOUNCER_UNIT)["NRestarts"]) == restarts + 1
    wait_for(single.pooled_login_works, "a login through the restarted pgbouncer", timeout=120)


def test_a_restarted_host_brings_the_server_pooler_and_exporter_back_by_itself(single):
    h = single.host
    single.fleet.restart(h)
    for name in (SERVER_UNIT, PGBOUNCER_UNIT, EXPORTER_UNIT):
        wait_for(lambda name=name: unit(h, name)["ActiveState"] == "active",
                 f"{name} active after the restart", timeout=240)
    wait_for(single.pooled_login_works, "a login through the pooler after the restart",
             timeout=180)
    wait_for(lambda: "pg_up 1" in single.metrics(), "the exporter's pg_up 1 after the restart",
             timeout=180)
    for name in PACKAGE_UNITS:
        assert unit(h, name)["ActiveState"] in ("inactive", "failed"), name
    assert supervise_leftovers(h) == ""
    # Nothing drifted across the reboot.
    assert_converged(single, "apply after the restart")


def test_removing_the_pooler_and_the_exporter_removes_their_units(single):
    h = single.host
    data = yaml.safe_load(single.env_path.read_text())
    data["pooler"]["enabled"] = False
    data["monitoring"]["exporter"] = False
    single.env_path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert_ok(single.run(), "apply without pooler and exporter")
    for name in (PGBOUNCER_UNIT, EXPORTER_UNIT):
        state = unit(h, name)
        assert state["LoadState"] == "not-found", (name, state)
        assert h.exec("test", "-e", f"/etc/systemd/system/{name}",
                      check=False).returncode == 1
    assert listeners(h, POOLER_PORT, "postgres") == set()
    assert listeners(h, EXPORTER_PORT, "prometheus") == set()
    # The packages' own instances stay off: nothing takes the ports back.
    for name in PACKAGE_UNITS:
        assert unit(h, name)["ActiveState"] in ("inactive", "failed"), name
    assert unit(h, SERVER_UNIT)["ActiveState"] == "active"
    assert_converged(single, "apply after the removal")
