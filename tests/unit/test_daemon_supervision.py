"""One way of supervising every daemon pgstead runs: the systemd units rendered from a
DaemonSpec (this machine has no systemd, so the units are checked as text here), the token
that decides restart against reload, and the decision itself over a host's state."""

from __future__ import annotations

import base64
import hashlib

import pytest

from pgstead.facts.daemon import (
    PackageUnits,
    PackageUnitState,
    PackageUnitStates,
    SupervisedDaemon,
    SupervisedState,
)
from pgstead.facts.paths import PathState
from pgstead.operations.daemon import HOST_FILES, _run, _unit
from pgstead.render.daemon import (
    DaemonSpec,
    parse_token,
    render_supervise_record,
    render_systemd_unit,
)
from roles.ha import PATRONI_STOP_SECONDS, etcd_spec, patroni_spec

PGBOUNCER = DaemonSpec("pgbouncer-prod", ("/usr/sbin/pgbouncer", "/etc/a.ini"), "postgres",
                       "pgbouncer for pgstead", config_digest="c1", notify=True,
                       restart_on="127.0.0.1:6432", after=("postgresql.service",),
                       ready_port=6432)
EXPORTER = DaemonSpec("exporter-prod", ("/usr/bin/prometheus-postgres-exporter",), "prometheus",
                      "exporter", config_digest="q1",
                      environment={"DATA_SOURCE_NAME": "host=/var/run/postgresql port=5432"},
                      reload_signal=None)


def unit_lines(spec: DaemonSpec) -> list[str]:
    return render_systemd_unit(spec).splitlines()


def test_restart_key_follows_the_command_line_not_the_files():
    moved = DaemonSpec(**{**PGBOUNCER.__dict__, "restart_on": "127.0.0.1:6433"})
    edited = DaemonSpec(**{**PGBOUNCER.__dict__, "config_digest": "c2"})
    assert moved.restart_key != PGBOUNCER.restart_key
    assert edited.restart_key == PGBOUNCER.restart_key
    assert edited.token != PGBOUNCER.token


def test_pgbouncer_unit_reloads_on_hup_and_restarts_on_failure():
    lines = unit_lines(PGBOUNCER)
    assert "ExecStart=/usr/sbin/pgbouncer /etc/a.ini" in lines
    assert "ExecReload=/bin/kill -HUP $MAINPID" in lines
    assert {"Type=notify", "User=postgres", "Restart=on-failure"} <= set(lines)
    assert "After=network-online.target postgresql.service" in lines
    assert "KillMode=process" not in lines


def test_exporter_unit_has_its_environment_and_no_reload():
    lines = unit_lines(EXPORTER)
    assert "Environment='DATA_SOURCE_NAME=host=/var/run/postgresql port=5432'" in lines
    assert not any(line.startswith("ExecReload=") for line in lines)
    assert "Type=simple" in lines and "Restart=on-failure" in lines


def test_patroni_unit_stops_only_patroni_and_gives_it_time_to_stop_postgresql():
    lines = unit_lines(patroni_spec("d"))
    # Only Patroni gets SIGTERM; it stops PostgreSQL itself (and a crash leaves PostgreSQL
    # running for the restarted Patroni), with minutes rather than systemd's 90 s or the
    # stock units' 30 s before any SIGKILL.
    assert "KillMode=process" in lines
    assert f"TimeoutStopSec={PATRONI_STOP_SECONDS}" in lines and PATRONI_STOP_SECONDS >= 300
    assert "Restart=on-failure" in lines
    assert "ExecStart=/usr/bin/patroni /etc/patroni/pgstead.yml" in lines
    assert "ExecReload=/bin/kill -HUP $MAINPID" in lines
    assert "After=network-online.target pgstead-etcd.service" in lines


def test_etcd_unit_is_pgsteads_own_config_and_stops_after_patroni():
    spec = etcd_spec("d")
    lines = unit_lines(spec)
    assert spec.unit == "pgstead-etcd.service"
    assert "ExecStart=/usr/bin/etcd --config-file /etc/pgstead/etcd/etcd.yml" in lines
    assert {"Type=notify", "User=etcd", "Restart=on-failure"} <= set(lines)
    assert not any(line.startswith("ExecReload=") for line in lines)
    # Patroni's unit is After= etcd's, so systemd stops Patroni first; the init script
    # without systemd uses the stop orders.
    assert spec.stop_order > patroni_spec("d").stop_order


def test_argv_must_be_absolute():
    with pytest.raises(ValueError, match="absolute"):
        DaemonSpec("x", ("pgbouncer",), "postgres", "x")


def test_tokens_from_older_releases_and_missing_ones():
    assert parse_token("") == (None, None)
    assert parse_token("-") == (None, None)
    assert parse_token("ab" * 32) == ("", "ab" * 32)  # pgstead-supervise's digest alone
    assert parse_token("k:d") == ("k", "d")
    assert parse_token("k:-") == ("k", "")


def test_record_holds_user_token_options_and_command():
    text = render_supervise_record(EXPORTER)
    assert text.splitlines() == [
        "prometheus", EXPORTER.token, "--stop-order=1", "--stop-seconds=30", "--",
        "DATA_SOURCE_NAME=host=/var/run/postgresql port=5432",
        "/usr/bin/prometheus-postgres-exporter"]


def program(name: str) -> PathState:
    data = (HOST_FILES / name).read_bytes()
    return PathState("file", "0:0", "root:root", "755", hashlib.sha256(data).hexdigest())


def state(spec: DaemonSpec, *, running: bool = True, token: str | None = None,
          record: str | None = "same", systemd: bool = False, supervised: bool | None = None,
          legacy: str = "none") -> SupervisedState:
    key, digest = parse_token(spec.token if token is None else token)
    if record == "same":
        record = None if systemd else hashlib.sha256(
            render_supervise_record(spec).encode()).hexdigest()
    unit = render_systemd_unit(spec).encode()
    return SupervisedState(
        systemd=systemd, supervised=running if supervised is None else supervised,
        running=running, restart_key=key, config_digest=digest, record=record, legacy=legacy,
        program=program("pgstead-supervise"), init_script=program("pgstead-daemons"),
        boot_links=True, old_init_scripts=(), unit_enabled=systemd,
        unit_file=PathState("file", "0:0", "root:root", "644",
                            hashlib.sha256(unit).hexdigest()) if systemd else None)


def whys(changes) -> list[str]:
    return [why for why, _ in changes]


def commands(changes) -> list[str]:
    return [str(command) for _, command in changes]


def test_a_converged_daemon_needs_nothing():
    assert _run(PGBOUNCER, state(PGBOUNCER)) == []
    assert _run(PGBOUNCER, state(PGBOUNCER, systemd=True, supervised=False)) == []
    assert _unit(PGBOUNCER, state(PGBOUNCER, systemd=True, supervised=False)) == []


def test_a_stopped_daemon_is_started_and_waited_for():
    (command,) = commands(_run(PGBOUNCER, state(PGBOUNCER, running=False)))
    assert "pgstead-supervise start pgbouncer-prod postgres" in command
    assert "wait-listen pgbouncer-prod 6432" in command


def test_changed_files_reload_a_daemon_that_can_and_restart_one_that_cannot():
    edited = DaemonSpec(**{**PGBOUNCER.__dict__, "config_digest": "c2"})
    (command,) = commands(_run(edited, state(PGBOUNCER)))
    assert command.startswith("/usr/local/sbin/pgstead-supervise reload pgbouncer-prod")
    assert command.endswith(" HUP")
    exporter = DaemonSpec(**{**EXPORTER.__dict__, "config_digest": "q2"})
    (why,) = whys(_run(exporter, state(EXPORTER)))
    assert why.startswith("restart")


def test_changed_listen_address_restarts():
    moved = DaemonSpec(**{**PGBOUNCER.__dict__, "restart_on": "127.0.0.1:6433"})
    (command,) = commands(_run(moved, state(PGBOUNCER)))
    assert "pgstead-supervise stop pgbouncer-prod 30 && " in command
    assert "pgstead-supervise start pgbouncer-prod" in command


def test_digest_recorded_by_an_older_release_is_kept_without_a_restart():
    spec = patroni_spec("d1")
    assert _run(spec, state(spec, token="d1")) == []
    (why,) = whys(_run(spec, state(spec, token="d0")))
    assert why.startswith("reload")


def test_an_outdated_boot_record_is_rewritten_without_touching_the_daemon():
    (change,) = _run(PGBOUNCER, state(PGBOUNCER, record="0" * 64))
    assert change[0].startswith("boot record")
    assert " stop " not in str(change[1]) and " reload " not in str(change[1])


def test_an_older_releases_start_stop_daemon_instance_is_stopped_once():
    from pgstead.operations.daemon import _legacy
    (change,) = _legacy(PGBOUNCER, state(PGBOUNCER, running=False, legacy="running"))
    assert "start-stop-daemon --stop" in str(change[1])
    assert "/run/pgstead/pgstead-pgbouncer-prod.pid" in str(change[1])
    assert _legacy(PGBOUNCER, state(PGBOUNCER)) == []


def test_with_systemd_a_unit_without_a_token_is_restarted_once():
    changes = _run(PGBOUNCER, state(PGBOUNCER, systemd=True, supervised=False, token="-"))
    assert commands(changes) == [
        "systemctl restart pgstead-pgbouncer-prod.service && mkdir -p /var/lib/pgstead/units"
        f" && printf %s {PGBOUNCER.token} > /var/lib/pgstead/units/pgbouncer-prod"]


def test_with_systemd_a_daemon_under_pgstead_supervise_moves_to_its_unit():
    live = state(PGBOUNCER, systemd=True, supervised=True)
    assert "pgstead-supervise remove pgbouncer-prod 30" in commands(_unit(PGBOUNCER, live))[0]
    (command,) = commands(_run(PGBOUNCER, live))
    assert command.startswith("systemctl start pgstead-pgbouncer-prod.service")


def test_with_systemd_a_new_unit_is_written_with_its_text_then_read_by_systemd():
    live = state(PGBOUNCER, systemd=True, supervised=False)
    live = SupervisedState(**{**live.__dict__, "unit_file": PathState("missing", "", "", "", ""),
                              "unit_enabled": False})
    write, reload, enable = _unit(PGBOUNCER, live)
    assert write[0] == "/etc/systemd/system/pgstead-pgbouncer-prod.service: create"
    # The unit's text travels on the write's own stdin (a nesting command would drop it).
    stdin = base64.decodebytes(write[1].connector_arguments["_stdin"].getvalue().encode())
    assert stdin.decode() == render_systemd_unit(PGBOUNCER)
    assert str(reload[1]) == "systemctl daemon-reload"
    assert str(enable[1]) == "systemctl enable pgstead-pgbouncer-prod.service"


def test_fact_reads_every_line():
    output = ["init other", "supervise running k:d", "record " + "a" * 64, "legacy stale",
              "program file 0:0 root:root 755 " + "b" * 64 + " -", "initscript missing",
              "bootlinks no", "oldinit pgstead-ha"]
    live = SupervisedDaemon().process(output)
    assert (live.running, live.supervised, live.restart_key, live.config_digest) == (
        True, True, "k", "d")
    assert live.record == "a" * 64 and live.legacy == "stale"
    assert live.program.sha256 == "b" * 64 and live.init_script.kind == "missing"
    assert not live.boot_links and live.old_init_scripts == ("pgstead-ha",)
    assert live.present
    gone = SupervisedDaemon().process(["init other", "supervise stopped", "record -",
                                       "legacy none", "program missing", "initscript missing",
                                       "bootlinks no"])
    assert not gone.present and gone.restart_key is None


def test_package_units_read_units_with_systemd_and_rc_links_without():
    live = PackageUnits().process(["systemd", "haproxy activating disabled",
                                   "etcd inactive enabled", "patroni unknown disabled"])
    # A unit about to be started again by its Restart= counts as running.
    assert live == PackageUnitStates(True, {
        "haproxy": PackageUnitState(running=True, enabled=False),
        "etcd": PackageUnitState(running=False, enabled=True),
        "patroni": PackageUnitState(running=False, enabled=False)})
    links = PackageUnits().process(["other", "etcd - enabled", "patroni - disabled"])
    assert links == PackageUnitStates(False, {
        "etcd": PackageUnitState(running=False, enabled=True),
        "patroni": PackageUnitState(running=False, enabled=False)})
