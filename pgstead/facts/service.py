"""Whether a daemon runs, and which init system would start it."""

from __future__ import annotations

from dataclasses import dataclass

from pyinfra.api import FactBase, QuoteString, StringCommand


@dataclass(frozen=True)
class DaemonState:
    running: bool
    systemd: bool  # systemd is PID 1 (a container or chroot may have systemctl without it)


class Daemon(FactBase):
    """Is a process named `process` running, and is systemd the init system."""

    def command(self, process: str) -> StringCommand:
        return StringCommand(
            "if", "pgrep", "-x", QuoteString(process), ">/dev/null;", "then", "echo", "running;",
            "else", "echo", "stopped;", "fi;",
            "if", "[", "-d", "/run/systemd/system", "];", "then", "echo", "systemd;",
            "else", "echo", "other;", "fi",
        )

    def process(self, output: list[str]) -> DaemonState:
        return DaemonState(running=output[0] == "running", systemd=output[1] == "systemd")
