"""Whether a daemon pgstead supervises runs, with which token, and what stands around it (its
supervisor program, boot script, record or unit, and any instance left by an older pgstead);
and whether a package's own default instance of it is enabled or running."""

from __future__ import annotations

from dataclasses import dataclass

from pyinfra.api import FactBase, QuoteString, StringCommand

from pgstead.facts.paths import STAT_ONE, PathState, PathStates
from pgstead.render.daemon import (
    INIT_SCRIPT,
    RECORD_DIR,
    RUN_DIR,
    SUPERVISOR,
    TOKEN_DIR,
    UNIT_DIR,
    parse_token,
)

# Init scripts of older pgstead releases, replaced by INIT_SCRIPT.
OLD_INIT_SCRIPTS = ("pgstead-ha",)

# One line per question, "key value"; $1 the daemon's name, $2 its program (for the pid file
# of an older pgstead's start-stop-daemon instance, /run/pgstead/pgstead-NAME.pid).
_SCRIPT = STAT_ONE + f"""
n=$1 exe=$2 sup={SUPERVISOR} unit=pgstead-$1.service
if [ -d /run/systemd/system ]; then echo init systemd; else echo init other; fi
if [ -x $sup ]; then echo "supervise $($sup status "$n")"; else echo supervise stopped; fi
r={RECORD_DIR}/$n
if [ -f "$r" ]; then echo "record $(sha256sum < "$r" | cut -d' ' -f1)"; else echo record -; fi
old={RUN_DIR}/pgstead-$n
pid=$(cat "$old.pid" 2>/dev/null || true)
if [ -n "$pid" ] && [ "$(readlink /proc/$pid/exe 2>/dev/null)" = "$exe" ]; then
  echo legacy running
elif [ -e "$old.pid" ] || [ -e "$old.key" ]; then echo legacy stale; else echo legacy none; fi
printf 'program '; s {SUPERVISOR} ''
printf 'initscript '; s {INIT_SCRIPT} ''
if ls /etc/rc2.d/S[0-9][0-9]{INIT_SCRIPT.rsplit('/', 1)[1]} >/dev/null 2>&1; then
  echo bootlinks yes; else echo bootlinks no; fi
for o in {' '.join(OLD_INIT_SCRIPTS)}; do [ -e /etc/init.d/$o ] && echo "oldinit $o"; done
if [ -d /run/systemd/system ]; then
  if systemctl is-active --quiet $unit; then echo unit active; else echo unit inactive; fi
  if systemctl is-enabled --quiet $unit 2>/dev/null; then echo enabled yes
  else echo enabled no; fi
  printf 'unitfile '; s {UNIT_DIR}/$unit ''
  echo "token $(cat {TOKEN_DIR}/$n 2>/dev/null || echo -)"
fi
true
"""


@dataclass(frozen=True)
class SupervisedState:
    systemd: bool  # systemd is PID 1: the unit runs it
    supervised: bool  # pgstead-supervise's loop runs it
    running: bool  # by whichever of the two this host uses
    restart_key: str | None  # of the running daemon; None unknown, "" from before keys
    config_digest: str | None
    record: str | None  # sha256 of pgstead-supervise's boot record, None without one
    legacy: str  # an older pgstead's start-stop-daemon instance: running | stale | none
    program: PathState  # pgstead-supervise
    init_script: PathState
    boot_links: bool  # the init script starts at boot
    old_init_scripts: tuple[str, ...]
    unit_enabled: bool = False  # systemd only from here on
    unit_file: PathState | None = None

    @property
    def present(self) -> bool:
        """Anything of pgstead's instance is on this host (for its removal)."""
        return (self.running or self.supervised or self.record is not None
                or self.legacy != "none" or self.unit_enabled
                or (self.unit_file is not None and self.unit_file.kind != "missing"))


def _path_state(line: str) -> PathState:
    return PathStates().process([line])[0]


class SupervisedDaemon(FactBase):
    """A daemon pgstead supervises: the pgstead-supervise loop and record, or the systemd unit
    and its token; the supervisor and boot script themselves; an older release's instance.

    + daemon: its name (``etcd``, ``patroni``, ``pgbouncer-prod``, ...)
    + exe: its program, to recognise an older release's start-stop-daemon instance
    """

    def command(self, daemon: str, exe: str) -> StringCommand:
        return StringCommand("sh", "-c", QuoteString(_SCRIPT), "pgstead-daemon-fact",
                             QuoteString(daemon), QuoteString(exe))

    def process(self, output: list[str]) -> SupervisedState:
        facts: dict[str, str] = {}
        old: list[str] = []
        for line in output:
            key, _, value = line.partition(" ")
            if key == "oldinit":
                old.append(value)
            else:
                facts[key] = value
        systemd = facts.get("init") == "systemd"
        status = facts.get("supervise", "stopped").split()
        supervised = bool(status) and status[0] == "running"
        token = facts.get("token", "-") if systemd else (status[1] if len(status) > 1 else "-")
        key, digest = parse_token(token)
        record = facts.get("record", "-")
        return SupervisedState(
            systemd=systemd, supervised=supervised,
            running=facts.get("unit") == "active" if systemd else supervised,
            restart_key=key, config_digest=digest,
            record=None if record == "-" else record,
            legacy=facts.get("legacy", "none"),
            program=_path_state(facts.get("program", "missing")),
            init_script=_path_state(facts.get("initscript", "missing")),
            boot_links=facts.get("bootlinks") == "yes", old_init_scripts=tuple(old),
            unit_enabled=facts.get("enabled") == "yes",
            unit_file=_path_state(facts["unitfile"]) if "unitfile" in facts else None)


class InitScriptDaemon(FactBase):
    """True when the process in an init script's pid file runs `exe` (not a reused pid):
    without systemd, the instance a Debian package started on its own (pgbouncer's on
    localhost:6432, the exporter's on every address)."""

    def command(self, pidfile: str, exe: str) -> StringCommand:
        return StringCommand(
            "pid=$(cat", QuoteString(pidfile), "2>/dev/null);", "if", "[", "-n", '"$pid"', "]",
            "&&", "[", '"$(readlink', "/proc/$pid/exe", '2>/dev/null)"', "=", QuoteString(exe),
            "];", "then", "echo", "running;", "else", "echo", "stopped;", "fi")

    def process(self, output: list[str]) -> bool:
        return output[-1] == "running"


@dataclass(frozen=True)
class PackageUnitState:
    running: bool  # with systemd: active, or on its way (activating: a Restart= about to
    # start it again); without systemd not read here (False)
    enabled: bool  # starts at boot: its unit enabled, or without systemd its rc2.d S link


@dataclass(frozen=True)
class PackageUnitStates:
    systemd: bool  # systemd is PID 1: the units decide; otherwise the init scripts
    units: dict[str, PackageUnitState]


_PACKAGE_UNITS = """
if [ -d /run/systemd/system ]; then
  echo systemd
  for s in "$@"; do
    a=$(systemctl is-active "$s.service" 2>/dev/null || true)
    if systemctl is-enabled --quiet "$s.service" 2>/dev/null; then e=enabled; else e=disabled; fi
    echo "$s ${a:-unknown} $e"
  done
else
  echo other
  for s in "$@"; do
    if ls /etc/rc2.d/S[0-9][0-9]"$s" >/dev/null 2>&1; then e=enabled; else e=disabled; fi
    echo "$s - $e"
  done
fi
"""


class PackageUnits(FactBase):
    """Whether the packages' own instances of `services` start at boot, and with systemd
    whether their units run (a unit not installed reads as stopped and disabled). Without
    systemd the processes of their init scripts are read by facts of their own
    (`InitScriptDaemon`, pgstead.facts.endpoints.PackageDaemon)."""

    def command(self, services: tuple[str, ...]) -> StringCommand:
        return StringCommand("sh", "-c", QuoteString(_PACKAGE_UNITS), "pgstead-package-units",
                             *[QuoteString(s) for s in services])

    def process(self, output: list[str]) -> PackageUnitStates:
        units = {}
        for line in output[1:]:
            name, active, enabled = (line.split() + ["", "", ""])[:3]
            units[name] = PackageUnitState(
                running=active in ("active", "activating", "reloading", "deactivating"),
                enabled=enabled == "enabled")
        return PackageUnitStates(systemd=bool(output) and output[0] == "systemd", units=units)
