"""Daemons pgstead runs beside the server, supervised the same way with or without systemd.

With systemd (PID 1) a unit `pgstead-...service` runs the daemon, restarting it when it
fails. Without (containers, chroots, this kind of host) `start-stop-daemon` starts it in the
background with a pid file under /run/pgstead; every apply starts it again if it is gone.
A restart key recorded beside the pid file says whether a change needs a restart (command
line, listen address) or a reload (files re-read on HUP), so a second apply changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand

from pgstead.facts.daemon import PackageDefaultInstance, SupervisedDaemon, SupervisedState
from pgstead.operations.files import Entry, File, file_changes
from pgstead.operations.plan_notes import plan_note
from pgstead.render.daemon import RUN_DIR, DaemonSpec, render_systemd_unit

START_TIMEOUT_SECONDS = 60


def _record_key(spec: DaemonSpec) -> StringCommand:
    return StringCommand("printf", "%s", QuoteString(spec.restart_key), ">",
                         QuoteString(spec.keyfile))


def _start(spec: DaemonSpec) -> StringCommand:
    env = [QuoteString(f"{k}={v}") for k, v in sorted(spec.environment.items())]
    notify = (["--notify-await", "--notify-timeout", str(START_TIMEOUT_SECONDS)]
              if spec.notify else [])
    return StringCommand(
        # env -i: the daemon inherits nothing of the deploy's environment (on @local that
        # holds the controller's, password variables included).
        "mkdir", "-p", RUN_DIR, "&&", "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG=C.UTF-8", *env, "start-stop-daemon", "--start", "--quiet",
        "--background", "--make-pidfile", "--pidfile", QuoteString(spec.pidfile),
        "--chuid", QuoteString(spec.user), "--output", QuoteString(spec.log), *notify,
        "--startas", QuoteString(spec.argv[0]), "--", *[QuoteString(a) for a in spec.argv[1:]],
        "&&", _record_key(spec))


def _stop(spec: DaemonSpec) -> StringCommand:
    return StringCommand("start-stop-daemon", "--stop", "--quiet", "--oknodo", "--retry",
                         "TERM/30/KILL/5", "--pidfile", QuoteString(spec.pidfile),
                         "--remove-pidfile")


def _systemctl(*args: str) -> StringCommand:
    return StringCommand("systemctl", *[QuoteString(a) for a in args])


def daemon_state(spec: DaemonSpec) -> SupervisedState:
    return host.get_fact(SupervisedDaemon, unit_name=spec.name, pidfile=spec.pidfile,
                         keyfile=spec.keyfile, exe=spec.argv[0])


def supervise(spec: DaemonSpec, state: SupervisedState, *, files_changed: bool,
              unit_changed: bool = False) -> Iterator[StringCommand]:
    """Commands that leave `spec` running with its current files: started when it is not,
    restarted when its restart key changed (or its files did and it cannot reload), reloaded
    when only its files changed; none when it already runs as wanted. `state` is
    `daemon_state(spec)`, read by the caller (which needs it to know whether to write a unit).
    """
    unit = f"{spec.name}.service"
    stale = state.restart_key != spec.restart_key or (files_changed and not spec.reloads)
    if state.systemd:
        if unit_changed:
            yield _systemctl("daemon-reload")
        if not state.unit_enabled:
            plan_note(spec.name, "enable at boot")
            yield _systemctl("enable", unit)
    if not state.running:
        plan_note(spec.name, "start")
        if state.systemd:
            yield StringCommand(_systemctl("start", unit), "&&", _record_key(spec))
        else:
            yield _start(spec)
    elif stale or (state.systemd and unit_changed):
        plan_note(spec.name, "restart (its command line or listen address changed)")
        if state.systemd:
            yield StringCommand(_systemctl("restart", unit), "&&", _record_key(spec))
        else:
            yield StringCommand(_stop(spec), "&&", _start(spec))
    elif files_changed:
        plan_note(spec.name, "reload (SIGHUP: open connections stay)")
        if state.systemd:
            yield _systemctl("reload", unit)
        else:
            yield StringCommand("kill", "-HUP", '"$(cat', QuoteString(spec.pidfile), ')"')


def with_files(spec: DaemonSpec, entries: list[Entry], description: str,
               package: tuple[str, str, str]) -> list[StringCommand]:
    """Commands that leave `spec` running with `entries` in place: the package's own instance
    (`package`: service, pidfile, executable) off, the changed files written (and the unit,
    with systemd), then started, restarted or reloaded as `supervise` decides. Empty when all
    is as wanted."""
    commands = list(package_default_off(*package))
    state = daemon_state(spec)
    unit = [File(spec.unit_path, render_systemd_unit(spec, description))] if state.systemd else []
    changes = file_changes([*entries, *unit])
    for path, (why, _) in changes:
        plan_note(path, why)
    commands += [command for _, (_, command) in changes]
    changed = {path for path, _ in changes}
    commands += supervise(spec, state, files_changed=bool(changed - {spec.unit_path}),
                          unit_changed=spec.unit_path in changed)
    return commands


def package_default_off(service: str, pidfile: str, exe: str) -> Iterator[StringCommand]:
    """Stop and disable the instance a Debian package runs on its own, where it does."""
    state = host.get_fact(PackageDefaultInstance, service=service, pidfile=pidfile, exe=exe)
    if not (state.running or state.enabled):
        return
    plan_note(service, "the package's own instance: stop and disable (pgstead runs its own)")
    if state.systemd:
        yield _systemctl("disable", "--now", f"{service}.service")
        return
    if state.running:
        yield StringCommand(QuoteString(f"/etc/init.d/{service}"), "stop")
    if state.enabled:
        yield StringCommand("update-rc.d", QuoteString(service), "disable")
