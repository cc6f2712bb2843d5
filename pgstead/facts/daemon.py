"""Whether a daemon pgstead supervises runs, with which restart key; and whether a package's
own default instance of it is enabled or running."""

from __future__ import annotations

from dataclasses import dataclass

from pyinfra.api import FactBase, QuoteString, StringCommand

_SYSTEMD = ("if", "[", "-d", "/run/systemd/system", "];", "then", "echo", "systemd;", "else",
            "echo", "other;", "fi;")


def _pid_alive(pidfile: str, exe: str) -> list[object]:
    """Prints running when the pid file's process runs `exe` (not a reused pid)."""
    return ['pid=$(cat', QuoteString(pidfile), '2>/dev/null);', 'if', '[', '-n', '"$pid"', ']',
            '&&', '[', '"$(readlink', '/proc/$pid/exe', '2>/dev/null)"', '=', QuoteString(exe),
            '];', 'then', 'echo', 'running;', 'else', 'echo', 'stopped;', 'fi;']


@dataclass(frozen=True)
class SupervisedState:
    systemd: bool  # systemd is PID 1
    running: bool
    restart_key: str  # of the running daemon; "" when none was recorded
    unit_enabled: bool  # systemd: the unit starts at boot


class SupervisedDaemon(FactBase):
    """A pgstead-supervised daemon: its unit (systemd) or its pid file (start-stop-daemon)."""

    def command(self, unit_name: str, pidfile: str, keyfile: str, exe: str) -> StringCommand:
        unit = QuoteString(f"{unit_name}.service")
        return StringCommand(
            *_SYSTEMD,
            "if", "[", "-d", "/run/systemd/system", "];", "then",
            "if", "systemctl", "is-active", "--quiet", unit, ";", "then", "echo", "running;",
            "else", "echo", "stopped;", "fi;",
            "else", *_pid_alive(pidfile, exe), "fi;",
            "cat", QuoteString(keyfile), "2>/dev/null;", "echo;",
            "if", "systemctl", "is-enabled", "--quiet", unit, "2>/dev/null;", "then", "echo",
            "enabled;", "else", "echo", "disabled;", "fi",
        )

    def process(self, output: list[str]) -> SupervisedState:
        lines = [*output, "", "", "", ""]
        return SupervisedState(systemd=lines[0] == "systemd", running=lines[1] == "running",
                               restart_key=lines[2].strip(), unit_enabled=lines[3] == "enabled")


@dataclass(frozen=True)
class DefaultInstanceState:
    systemd: bool
    running: bool
    enabled: bool  # starts at boot (a systemd unit enabled, or sysv rc links)


class PackageDefaultInstance(FactBase):
    """The instance a Debian package starts on its own (`service`, its init script's pid file).

    pgbouncer's listens on localhost:6432 and the exporter's on every address: both must be
    off where pgstead runs its own instances.
    """

    def command(self, service: str, pidfile: str, exe: str) -> StringCommand:
        unit = QuoteString(f"{service}.service")
        return StringCommand(
            *_SYSTEMD,
            "if", "[", "-d", "/run/systemd/system", "];", "then",
            "if", "systemctl", "is-active", "--quiet", unit, ";", "then", "echo", "running;",
            "else", "echo", "stopped;", "fi;",
            "if", "systemctl", "is-enabled", "--quiet", unit, "2>/dev/null;", "then", "echo",
            "enabled;", "else", "echo", "disabled;", "fi;",
            "else", *_pid_alive(pidfile, exe),
            "if", "ls", StringCommand("/etc/rc[2345].d/S[0-9][0-9]", QuoteString(service),
                                      _separator=""),
            ">/dev/null", "2>&1;", "then", "echo", "enabled;", "else", "echo", "disabled;", "fi;",
            "fi",
        )

    def process(self, output: list[str]) -> DefaultInstanceState:
        lines = [*output, "", "", ""]
        return DefaultInstanceState(systemd=lines[0] == "systemd", running=lines[1] == "running",
                                    enabled=lines[2] == "enabled")
