"""A minor upgrade of a single server over SSH, for real: a local apt repository offers a newer
build of Debian's postgresql-15. Under `restart_policy: never` the apply installs it, restarts
nothing and says the server still runs the old binaries (and the next apply changes nothing);
under `auto` the apply restarts the server onto the new binaries; the dry run names the move,
and an apply after it changes nothing. One host from the HA image (PostgreSQL preinstalled)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.apt_repo import installed, postmaster, publish_newer
from tests.ha_cluster import HA_IMAGE, assert_converged, assert_ok, changes
from tests.hosts import Fleet, fleet
from tests.pgstead_run import Run, pyinfra

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PORT = 5432
UPGRADE_OP = "Minor upgrade | postgresql-15, postgresql-client-15: newest minor, then a restart"


@dataclass
class Single:
    fleet: Fleet
    directory: Path
    inventory: Path
    env_path: Path

    def run(self, *args: str) -> Run:
        return pyinfra(str(self.inventory), *args, state_dir=self.directory / "state")

    def set_policy(self, policy: str) -> None:
        data = yaml.safe_load(self.env_path.read_text())
        data["postgres"]["restart_policy"] = policy
        self.env_path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> Iterator[Single]:
    directory = tmp_path_factory.mktemp("upgrade-single")
    with fleet(directory, ["pg1"], image=HA_IMAGE, init=True) as hosts:
        inventory = directory / "single.py"
        hosts.write_inventory(inventory)
        env_path = directory / "single.yml"
        env_path.write_text(yaml.safe_dump({
            "name": "single",
            "postgres": {"version": 15, "port": PORT, "upgrade": "minor",
                         "restart_policy": "never",
                         "tuning": {"profile": "web", "memory": "512MB", "cpus": 2}},
            "tls": {"enabled": True, "ca": "generate", "require": True},
        }, sort_keys=False))
        s = Single(hosts, directory, inventory, env_path)
        assert_ok(s.run(), "first apply")
        yield s


def test_under_restart_policy_never_the_package_moves_and_the_server_keeps_running(single):
    h = single.fleet.hosts[0]
    version = publish_newer(single.fleet.hosts, "postgresql-15", single.directory)
    old = installed(h, "postgresql-15")
    pid, _ = postmaster(h, PORT)
    dry = single.run("--dry")
    assert_ok(dry, "dry run")
    assert (UPGRADE_OP, "pg1") in changes(dry)
    assert f"postgresql-15 {old} -> {version}" in dry.stdout + dry.stderr
    applied = single.run()
    assert_ok(applied, "apply under restart_policy: never")
    assert changes(applied) == changes(dry)
    assert installed(h, "postgresql-15") == version
    # The same postmaster, on the binary the package has replaced.
    assert postmaster(h, PORT) == (pid, "/usr/lib/postgresql/15/bin/postgres (deleted)")
    again = single.run()
    assert_ok(again, "second apply under restart_policy: never")
    assert changes(again) == set()
    assert "runs binaries older than its packages" in again.stdout + again.stderr


def test_under_restart_policy_auto_the_server_restarts_onto_the_new_binaries(single):
    h = single.fleet.hosts[0]
    pid, _ = postmaster(h, PORT)
    single.set_policy("auto")
    dry = single.run("--dry")
    assert_ok(dry, "dry run")
    assert (UPGRADE_OP, "pg1") in changes(dry)
    assert "restart PostgreSQL onto the new binaries" in dry.stdout + dry.stderr
    applied = single.run()
    assert_ok(applied, "apply under restart_policy: auto")
    assert changes(applied) == changes(dry)
    new_pid, exe = postmaster(h, PORT)
    assert new_pid != pid and exe == "/usr/lib/postgresql/15/bin/postgres"
    assert_converged(single)
