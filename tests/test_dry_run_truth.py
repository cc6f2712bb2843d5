"""`pyinfra --dry` tells the truth: on a converged host it shows no change, and on a changed
environment file it shows exactly the operations the apply then changes, host by host.

A dry run goes without -y (pyinfra skips change detection under --yes); its `--json` plan
lists `hosts_with_change` per operation, the apply's results list `success` per operation.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.clusters import drop_cluster, free_port, postmaster_start, show, sql
from tests.conftest import EnvFile, base_environment
from tests.hosts import fleet
from tests.pgstead_run import Run, pyinfra

DATABASE = "shop"
PASSWORDS = {"DRY_OWNER_PW": secrets.token_urlsafe(16), "DRY_RW_PW": secrets.token_urlsafe(16)}

Change = set[tuple[str, str]]


def changes(run: Run) -> Change:
    """(operation, host) pairs an apply changed, or a dry run says it would change."""
    assert run.report is not None, f"no JSON report:\n{run.stderr[-4000:]}"
    if run.report.get("results"):
        return {(op["name"], h) for op in run.report["results"]["operations"]
                for h in op["success"]}
    return {(op["name"], h) for op in run.report["plan"] for h in op["hosts_with_change"]}


def access(data: dict, subnet: str = "127.0.0.1/32") -> dict:
    data["databases"] = [{"name": DATABASE, "owner": "shop_owner", "schemas": ["sales"]}]
    data["users"] = [
        {"name": "shop_owner", "password": {"env": "DRY_OWNER_PW"}, "role": "owner",
         "database": DATABASE},
        {"name": "shop_rw", "password": {"env": "DRY_RW_PW"}, "role": "readwrite",
         "database": DATABASE, "connection_limit": 10},
    ]
    data["hba"] = [{"type": "host", "database": DATABASE, "user": "shop_rw", "address": subnet,
                    "method": "scram-sha-256"}]
    return data


class Target:
    """An environment file and the inventory it is applied to, with its secrets."""

    def __init__(self, env: EnvFile, inventory: str) -> None:
        self.env = env
        self.inventory = inventory
        self.passwords = dict(PASSWORDS)

    def run(self, *args: str) -> Run:
        run = pyinfra(self.inventory, *args, env_file=self.env.path,
                      state_dir=self.env.state_dir, extra_env=self.passwords)
        assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-6000:]}"
        return run

    def dry(self) -> Change:
        return changes(self.run("--dry"))

    def apply(self) -> Change:
        return changes(self.run())


def dry_equals_apply(target: Target, edit: Callable[[Target], None]) -> Change:
    """Edit the file (or secrets), then check the dry run's changes are the apply's; return
    them. The target must be converged before and is converged after."""
    assert target.dry() == set(), "the target is not converged before the change"
    edit(target)
    target.env.write()
    planned = target.dry()
    applied = target.apply()
    assert planned == applied, f"dry run said {sorted(planned)}, apply did {sorted(applied)}"
    assert target.dry() == set(), "the apply left something the dry run still wants to change"
    return applied


def names(change: Change) -> set[str]:
    return {op for op, _ in change}


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> Iterator[Target]:
    """A native cluster on this machine with a database, two users and an hba line."""
    port = free_port()
    name = f"dry{os.getpid() % 10000}"
    env = EnvFile(tmp_path_factory.mktemp("dry"), name, port,
                  access(base_environment(name, port)))
    target = Target(env, "@local")
    try:
        first = target.apply()
        assert first, "the first apply changes things"
        yield target
    finally:
        drop_cluster(15, name)


def test_converged_host_dry_run_shows_no_change(local):
    assert local.dry() == set()


def test_reload_setting_change_is_exactly_the_settings_operation(local):
    def edit(t: Target) -> None:
        t.env.data["postgres"]["settings"]["work_mem"] = "7MB"

    applied = dry_equals_apply(local, edit)
    assert len(applied) == 1 and "Parameters of" in next(iter(names(applied)))
    assert show(local.env.port, "work_mem") == "7MB"


def test_restart_setting_change_is_exactly_the_settings_operation(local):
    started = postmaster_start(local.env.port)

    def edit(t: Target) -> None:
        t.env.data["postgres"]["settings"]["shared_buffers"] = "160MB"

    applied = dry_equals_apply(local, edit)
    assert len(applied) == 1 and "Parameters of" in next(iter(names(applied)))
    assert show(local.env.port, "shared_buffers") == "160MB"
    assert postmaster_start(local.env.port) != started


def test_connection_limit_change_is_exactly_the_roles_operation(local):
    def edit(t: Target) -> None:
        t.env.data["users"][1]["connection_limit"] = 12

    applied = dry_equals_apply(local, edit)
    assert len(applied) == 1 and "Login roles" in next(iter(names(applied)))
    limit = sql(local.env.port, "SELECT rolconnlimit FROM pg_roles WHERE rolname = 'shop_rw'")
    assert limit == "12"


def test_password_rotation_is_exactly_the_roles_operation(local):
    def edit(t: Target) -> None:
        t.passwords["DRY_RW_PW"] = secrets.token_urlsafe(16)

    applied = dry_equals_apply(local, edit)
    assert len(applied) == 1 and "Login roles" in next(iter(names(applied)))


def test_new_hba_line_is_exactly_the_hba_operation(local):
    def edit(t: Target) -> None:
        t.env.data["hba"].append({"type": "host", "database": DATABASE, "user": "shop_owner",
                                  "address": "127.0.0.1/32", "method": "scram-sha-256"})

    applied = dry_equals_apply(local, edit)
    assert len(applied) == 1 and "pg_hba.conf" in next(iter(names(applied)))


def test_new_user_with_grants_shows_every_operation_it_changes(local):
    def edit(t: Target) -> None:
        t.env.data["users"].append({"name": "shop_ro", "password": {"env": "DRY_RW_PW"},
                                    "role": "readonly", "database": DATABASE})

    applied = dry_equals_apply(local, edit)
    assert any("Login roles" in op for op in names(applied))
    assert any(f"Access to database {DATABASE}" in op for op in names(applied))


@pytest.mark.docker
@pytest.mark.slow
def test_dry_run_equals_apply_over_ssh(tmp_path):
    """The same truth on a fresh-VM container reached over SSH with sudo: a setting, a user and
    an hba line changed at once."""
    with fleet(tmp_path, ["dryhost"], sudo=("dryhost",)) as hosts:
        port = 5433
        data = access(base_environment("dryssh", port), subnet=hosts.subnet)
        data["postgres"]["listen_addresses"] = ["*"]
        env = EnvFile(tmp_path, "dryssh", port, data)
        inventory = hosts.write_inventory(Path(tmp_path) / "dryssh.py")
        target = Target(env, str(inventory))
        fresh = target.dry()
        assert target.apply() == fresh, "on a fresh host too, the dry run is the apply"

        def edit(t: Target) -> None:
            t.env.data["postgres"]["settings"]["work_mem"] = "9MB"
            t.env.data["users"][1]["connection_limit"] = 3
            t.env.data["hba"].append({"type": "host", "database": DATABASE,
                                      "user": "shop_owner", "address": hosts.subnet,
                                      "method": "scram-sha-256"})

        applied = dry_equals_apply(target, edit)
        assert len(applied) == 3, sorted(applied)
