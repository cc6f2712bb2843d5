"""Daemons pgstead runs beside the server (etcd, Patroni, HAProxy, keepalived, pgbouncer, the
exporter), supervised one way with or without systemd (see pgstead.render.daemon).

Without systemd pgstead-supervise runs each one and starts it again when it dies; its record
brings it back at boot through the init script pgstead-daemons, which this module installs
and enables. With systemd each has a unit, rendered here, with Restart=on-failure. One fact
per daemon reads all of it, so a converged daemon costs one command.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation

from pgstead import PROJECT_ROOT
from pgstead.facts.daemon import (
    InitScriptDaemon,
    PackageUnits,
    SupervisedDaemon,
    SupervisedState,
)
from pgstead.operations.files import Entry, File, entry_change, file_changes
from pgstead.operations.plan_notes import plan_note
from pgstead.render.daemon import (
    INIT_SCRIPT,
    RUN_DIR,
    SUPERVISOR,
    TOKEN_DIR,
    DaemonSpec,
    render_supervise_record,
    render_systemd_unit,
)

HOST_FILES = PROJECT_ROOT / "pgstead" / "data" / "host"
READY_SECONDS = 60

Change = tuple[str, StringCommand]  # what the plan says, and the command


def _supervise(*words: str) -> StringCommand:
    return StringCommand(SUPERVISOR, *[QuoteString(w) for w in words])


def _systemctl(*args: str) -> StringCommand:
    return StringCommand("systemctl", *[QuoteString(a) for a in args])


def _start(spec: DaemonSpec) -> StringCommand:
    start = _supervise("start", spec.name, spec.user, spec.token, *spec.supervise_arguments())
    if spec.ready_port is None:
        return start
    return StringCommand(start, "&&", _supervise("wait-listen", spec.name,
                                                  str(spec.ready_port), str(READY_SECONDS)))


def _record_token(spec: DaemonSpec) -> StringCommand:
    return StringCommand("mkdir", "-p", TOKEN_DIR, "&&", "printf", "%s", QuoteString(spec.token),
                         ">", QuoteString(spec.token_path))


def _legacy(spec: DaemonSpec, state: SupervisedState) -> list[Change]:
    """An instance an older pgstead started with start-stop-daemon (pid file and restart key
    under /run/pgstead/pgstead-NAME.*): stopped once, before pgstead's own starts."""
    old = f"{RUN_DIR}/pgstead-{spec.name}"
    forget = StringCommand("rm", "-f", QuoteString(f"{old}.pid"), QuoteString(f"{old}.key"))
    if state.legacy == "running":
        return [("stop the instance an older pgstead started with start-stop-daemon",
                 StringCommand("start-stop-daemon", "--stop", "--quiet", "--oknodo", "--retry",
                               f"TERM/{spec.stop_seconds}/KILL/5", "--pidfile",
                               QuoteString(f"{old}.pid"), "&&", forget))]
    if state.legacy == "stale":
        return [("remove an older pgstead's pid file", forget)]
    return []


def _host_programs(state: SupervisedState) -> list[Change]:
    """Without systemd: pgstead-supervise and the init script current, the script enabled,
    an older release's init script gone."""
    out: list[Change] = []
    for entry, live in ((File(SUPERVISOR, HOST_FILES / "pgstead-supervise", mode="755"),
                         state.program),
                        (File(INIT_SCRIPT, HOST_FILES / "pgstead-daemons", mode="755"),
                         state.init_script)):
        change = entry_change(entry, live)
        if change is not None:
            out.append((f"{entry.path}: {change[0]}", change[1]))
    script = INIT_SCRIPT.rsplit("/", 1)[1]
    if not state.boot_links:
        out.append((f"{script} starts at boot",
                    StringCommand("update-rc.d", QuoteString(script), "defaults")))
    return out + _old_init_scripts(state)


def _old_init_scripts(state: SupervisedState) -> list[Change]:
    """An older release's init script (pgstead-ha, installed with or without systemd): gone."""
    return [(f"{old}: an older release's init script, replaced by pgstead-daemons",
             StringCommand("rm", "-f", QuoteString(f"/etc/init.d/{old}"), "&&",
                           "update-rc.d", QuoteString(old), "remove"))
            for old in state.old_init_scripts]


def _unit(spec: DaemonSpec, state: SupervisedState) -> list[Change]:
    """With systemd: the unit current and enabled, the daemon out of pgstead-supervise."""
    out: list[Change] = []
    assert state.unit_file is not None
    change = entry_change(File(spec.unit_path, render_systemd_unit(spec)), state.unit_file)
    if change is not None:
        # Two commands: the write carries the unit's text on its stdin, which a command
        # nesting it would drop (an empty unit file, which systemd reads as masked).
        out += [(f"{spec.unit_path}: {change[0]}", change[1]),
                ("systemd reads the changed unit", _systemctl("daemon-reload"))]
    if not state.unit_enabled:
        out.append(("enable at boot", _systemctl("enable", spec.unit)))
    if state.supervised or state.record is not None:
        out.append(("leave pgstead-supervise (its systemd unit runs it now)",
                    _supervise("remove", spec.name, str(spec.stop_seconds))))
    return out + _old_init_scripts(state)


def _restart(spec: DaemonSpec, systemd: bool) -> StringCommand:
    if systemd:
        return StringCommand(_systemctl("restart", spec.unit), "&&", _record_token(spec))
    return StringCommand(_supervise("stop", spec.name, str(spec.stop_seconds)), "&&",
                         _start(spec))


def restart_command(spec: DaemonSpec) -> StringCommand:
    """The command that restarts a running `spec` as this host supervises it: for new code
    under the same files (a package upgrade), which no token change would ask for."""
    state = host.get_fact(SupervisedDaemon, daemon=spec.name, exe=spec.argv[0])
    return _restart(spec, state.systemd)


def _run(spec: DaemonSpec, state: SupervisedState) -> list[Change]:
    """Started, restarted, reloaded or (its boot record only) re-recorded, as its token asks."""
    systemd = state.systemd
    running = state.running and not (systemd and state.supervised)
    if not running:
        return [("start", StringCommand(_systemctl("start", spec.unit), "&&", _record_token(spec))
                 if systemd else _start(spec))]
    restart = _restart(spec, systemd)
    if state.restart_key is None or (state.restart_key and state.restart_key != spec.restart_key):
        return [("restart (its command line, environment or listen address changed)", restart)]
    if state.config_digest != spec.config_digest:
        if spec.reload_signal is None:
            return [("restart (its files changed; it re-reads none of them)", restart)]
        reload = (StringCommand(_systemctl("reload", spec.unit), "&&", _record_token(spec))
                  if systemd else _supervise("reload", spec.name, spec.token, spec.reload_signal))
        return [(f"reload (SIG{spec.reload_signal}: its files changed)", reload)]
    record = hashlib.sha256(render_supervise_record(spec).encode()).hexdigest()
    if not systemd and state.record != record:
        # `start` of a running daemon rewrites its record only: what boot will start.
        return [("boot record updated (the daemon keeps running)", _supervise(
            "start", spec.name, spec.user, spec.token, *spec.supervise_arguments()))]
    return []


def supervise_changes(spec: DaemonSpec) -> list[Change]:
    """What leaves `spec` running as described, supervised as this host supervises (none when
    it already does)."""
    state = host.get_fact(SupervisedDaemon, daemon=spec.name, exe=spec.argv[0])
    around = _unit(spec, state) if state.systemd else _host_programs(state)
    return [*around, *_legacy(spec, state), *_run(spec, state)]


def yield_changes(subject: str, changes: list[Change]):
    """The commands of `changes`, each one's reason noted first: a plan reads no further
    than the first command."""
    for why, _ in changes:
        plan_note(subject, why)
    for _, command in changes:
        yield command


@operation()
def supervised(spec: DaemonSpec):
    """
    Ensure a daemon runs as `spec` says, restarted by its supervisor when it dies.

    + spec: the daemon (``pgstead.render.daemon.DaemonSpec``): command line, user, the digest
      of the files it reads, how it reloads, its stop order and time

    Not running: started. Its restart key changed (command line, environment, user, listen
    address): restarted. Only its config digest changed: sent its reload signal, or restarted
    when it has none. Without systemd, pgstead-supervise and the boot script are installed
    first; an instance an older pgstead started with start-stop-daemon is stopped once.

    **Example:**

    .. code:: python

        daemon.supervised(name="etcd runs", spec=DaemonSpec(
            name="etcd", argv=("/usr/bin/etcd", "--config-file", config_path), user="etcd",
            description="etcd for pgstead", config_digest=sha, reload_signal=None,
            stop_order=STORE))
    """
    changes = supervise_changes(spec)
    if not changes:
        host.noop(f"{spec.name} runs with its current command line and files")
        return
    yield from yield_changes(spec.name, changes)


def _digest(entries: list[Entry]) -> str:
    h = hashlib.sha256()
    for entry in entries:
        if isinstance(entry, File):
            h.update(entry.path.encode() + b"\0" + entry.data() + b"\0")
    return h.hexdigest()


def with_files(spec: DaemonSpec, entries: list[Entry],
               package: tuple[str, str, str]) -> list[StringCommand]:
    """Commands that leave `spec` running with `entries` in place: the package's own instance
    (`package`: service, pidfile, executable) off, the changed files written, then the daemon
    started, restarted or reloaded (its config digest is that of `entries`). Empty when all is
    as wanted."""
    commands = list(package_default_off(*package))
    changes = [(f"{path}: {why}", command) for path, (why, command) in file_changes(entries)]
    spec = replace(spec, config_digest=_digest(entries))
    changes += supervise_changes(spec)
    return commands + list(yield_changes(spec.name, changes))


@operation()
def unsupervised(spec: DaemonSpec, files: list[str], then: Sequence[str] = ()):
    """
    Ensure pgstead's instance of a daemon is gone: stopped, its unit or boot record removed,
    and its files with it (`files`: its configuration; its log stays).

    + spec: the daemon as it was run (only its name, program and stop time matter here)
    + files: paths to remove with it; looked at only when the daemon is still present, so a
      host without it pays one command
    + then: a command run right after it stopped, in the same change (a removed member's
      Patroni key deleted from etcd once its Patroni can no longer write it again)

    **Example:**

    .. code:: python

        daemon.unsupervised(name="No pooler", spec=pgbouncer_spec(env),
                            files=[paths.config, paths.auth_file])
    """
    state = host.get_fact(SupervisedDaemon, daemon=spec.name, exe=spec.argv[0])
    if not state.present:
        host.noop(f"no {spec.name} here")
        return
    changes: list[Change] = []
    if state.systemd and (state.running or state.unit_enabled):
        changes.append(("stop and disable its unit", _systemctl("disable", "--now", spec.unit)))
    if state.systemd and state.unit_file is not None and state.unit_file.kind != "missing":
        changes.append(("remove its unit", StringCommand(
            "rm", "-f", QuoteString(spec.unit_path), QuoteString(spec.token_path), "&&",
            _systemctl("daemon-reload"))))
    if state.supervised or state.record is not None:
        changes.append(("stop it and remove its boot record",
                        _supervise("remove", spec.name, str(spec.stop_seconds))))
    changes += _legacy(spec, state)
    if then:
        changes.append(("then " + " ".join(then[-2:]),
                        StringCommand(*[QuoteString(word) for word in then])))
    if files:
        changes.append((f"remove {', '.join(files)}",
                        StringCommand("rm", "-f", *[QuoteString(f) for f in files])))
    yield from yield_changes(spec.name, changes)


def package_default_off(service: str, pidfile: str, exe: str):
    """Stop and disable the instance a Debian package runs on its own, where it does: with
    systemd its unit, otherwise its init script's process (`pidfile`, running `exe`) and boot
    links."""
    changes = package_units_off([service])
    if changes is None:
        changes = package_boot_links([service])
        if host.get_fact(InitScriptDaemon, pidfile=pidfile, exe=exe):
            changes.insert(0, (f"{service}: the package's own instance stopped",
                               StringCommand(QuoteString(f"/etc/init.d/{service}"), "stop")))
    if changes:
        plan_note(service, "the package's own instance: stop and disable (pgstead runs its own)")
    for _, command in changes:
        yield command


def package_unit_off(service: str, stop: bool = True) -> StringCommand:
    """With systemd: the package's own unit disabled, and stopped too when `stop`, through
    systemctl (which also disables its init script's links): a process killed behind
    systemd's back is started again by a unit with Restart= (HAProxy's: always)."""
    return _systemctl("disable", *(["--now"] if stop else []), f"{service}.service")


def package_units_off(services: Sequence[str], stop: bool = True) -> list[Change] | None:
    """With systemd: what leaves the packages' own units of `services` disabled, and stopped
    when `stop` ([] when they already are). None without systemd, where the packages' init
    scripts are the caller's to handle (`package_boot_links` and processes of their own)."""
    live = host.get_fact(PackageUnits, services=tuple(services))
    if not live.systemd:
        return None
    out: list[Change] = []
    for service in services:
        state = live.units.get(service)
        if state is not None and (state.enabled or (stop and state.running)):
            what = "stop and disable" if stop else "disable"
            out.append((f"{service}.service, the package's own unit: {what} "
                        "(pgstead runs its own)", package_unit_off(service, stop)))
    return out


def package_boot_links(services: Sequence[str]) -> list[Change]:
    """Without systemd: what keeps the packages' init scripts of `services` from starting at
    boot (their rc links disabled), read by the same fact as `package_units_off`."""
    live = host.get_fact(PackageUnits, services=tuple(services))
    return [(f"{service}: its init script off at boot",
             StringCommand("update-rc.d", QuoteString(service), "disable"))
            for service in services
            if (state := live.units.get(service)) is not None and state.enabled]
