"""What a minor upgrade moves and restarts, read from the packages' versions and the running
daemons; which packages follow; and the file's `postgres.upgrade` checks."""

from __future__ import annotations

from pathlib import Path

from pgstead.config.load import check_file, load_environment
from pgstead.desired.upgrade import plan_upgrade, upgrade_packages
from pgstead.facts.packages import ServerPackages
from pgstead.live.packages import PackageVersion, UpgradeState

PG = "15.20-0+deb12u1"
NEW = "15.20-0+deb12u1+pgstead1"


def _state(*packages: PackageVersion, **flags: bool) -> UpgradeState:
    return UpgradeState(packages, **flags)


def test_a_newer_server_package_moves_and_restarts_postgres():
    up = plan_upgrade(_state(PackageVersion("postgresql-15", PG, NEW, True),
                             PackageVersion("postgresql-client-15", PG, PG, False)))
    assert up.moves == (("postgresql-15", PG, NEW),)
    assert up.restart == "postgres"
    assert up.describe() == [f"postgresql-15 {PG} -> {NEW}",
                             "restart PostgreSQL onto the new binaries"]


def test_a_newer_client_alone_moves_without_a_restart():
    up = plan_upgrade(_state(PackageVersion("postgresql-client-15", PG, NEW, True)))
    assert up.moves and up.restart is None


def test_a_newer_patroni_restarts_the_daemon_which_restarts_postgres_too():
    up = plan_upgrade(_state(PackageVersion("postgresql-15", PG, NEW, True),
                             PackageVersion("patroni", "3.0.2-1", "3.0.2-1+p1", True)))
    assert up.restart == "patroni"


def test_nothing_newer_and_current_daemons_is_no_upgrade():
    assert not plan_upgrade(_state(PackageVersion("postgresql-15", PG, PG, False)))


def test_an_older_candidate_or_a_missing_package_never_moves():
    up = plan_upgrade(_state(PackageVersion("postgresql-15", NEW, PG, False),
                             PackageVersion("patroni", None, "3.0.2-1", False)))
    assert not up


def test_a_postmaster_on_a_replaced_binary_still_needs_its_restart():
    # An earlier apply under restart_policy: never installed the package, restarted nothing.
    up = plan_upgrade(_state(PackageVersion("postgresql-15", NEW, NEW, False),
                             postmaster_stale=True))
    assert up.moves == () and up.restart == "postgres"


def test_the_fact_reads_versions_and_stale_daemons():
    out = [f"package postgresql-15 {PG} {NEW} 1", "package patroni - 3.0.2-1 0",
           "postmaster stale", "patroni none"]
    state = ServerPackages().process(out)
    assert state.packages == (PackageVersion("postgresql-15", PG, NEW, True),
                              PackageVersion("patroni", None, "3.0.2-1", False))
    assert state.postmaster_stale and not state.patroni_stale


def test_the_packages_that_follow_are_the_servers_and_patroni_under_ha(tmp_path: Path):
    path = tmp_path / "prod.yml"
    path.write_text("name: prod\npostgres: {upgrade: minor}\n")
    single = upgrade_packages(load_environment(path, resolve_secrets=False))
    assert single[:2] == ["postgresql-15", "postgresql-client-15"] and "patroni" not in single
    path.write_text("name: prod\npostgres: {upgrade: minor}\nha: {}\n")
    assert "patroni" in upgrade_packages(load_environment(path, resolve_secrets=False))


def test_upgrade_with_compose_is_refused_at_its_line(tmp_path: Path):
    path = tmp_path / "prod.yml"
    path.write_text("name: prod\npostgres:\n  install: compose\n  upgrade: minor\n"
                    "compose: {project_dir: /opt/x}\n")
    errors = check_file(path, resolve_secrets=False).errors
    assert [(e.line, e.path) for e in errors] == [(4, "postgres.upgrade")], errors


def test_an_unknown_upgrade_mode_is_refused(tmp_path: Path):
    path = tmp_path / "prod.yml"
    path.write_text("name: prod\npostgres: {upgrade: major}\n")
    errors = check_file(path, resolve_secrets=False).errors
    assert errors and errors[0].path == "postgres.upgrade", errors
