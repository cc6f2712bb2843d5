"""How pgstead runs a daemon beside the server (pgbouncer, the exporter), with or without
systemd: one description, and the systemd unit rendered from it. Pure.

Without systemd the daemon is started by `start-stop-daemon` (dpkg's, on every Debian host)
in the background with a pid file under /run/pgstead; with systemd the unit below runs the
same command line. Either way the same `restart key` decides whether a change needs a
restart (command line, listen address) or only a reload (files the daemon re-reads on HUP).
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass, field

RUN_DIR = "/run/pgstead"
UNIT_DIR = "/etc/systemd/system"


@dataclass(frozen=True)
class DaemonSpec:
    name: str  # unit name and pid file stem, e.g. pgstead-pgbouncer-prod
    argv: tuple[str, ...]  # argv[0] is the absolute path of the program
    user: str
    log: str  # where stdout and stderr go without systemd
    environment: dict[str, str] = field(default_factory=dict)  # never a secret
    reloads: bool = True  # HUP re-reads the daemon's files; else a change restarts it
    notify: bool = False  # the program reports readiness with sd_notify (pgbouncer does)
    # Anything besides argv and environment whose change needs a restart (a listen address).
    restart_on: str = ""

    @property
    def pidfile(self) -> str:
        return f"{RUN_DIR}/{self.name}.pid"

    @property
    def keyfile(self) -> str:
        """Holds the restart key of the running daemon."""
        return f"{RUN_DIR}/{self.name}.key"

    @property
    def unit_path(self) -> str:
        return f"{UNIT_DIR}/{self.name}.service"

    @property
    def restart_key(self) -> str:
        text = "\0".join([*self.argv, *(f"{k}={v}" for k, v in sorted(self.environment.items())),
                          self.user, self.restart_on])
        return hashlib.sha256(text.encode()).hexdigest()


def render_systemd_unit(spec: DaemonSpec, description: str) -> str:
    lines = ["# managed by pgstead; edits are overwritten.", "[Unit]",
             f"Description={description}", "After=network.target postgresql.service", "",
             "[Service]", f"Type={'notify' if spec.notify else 'simple'}", f"User={spec.user}"]
    lines += [f"Environment={shlex.quote(f'{k}={v}')}" for k, v in sorted(spec.environment.items())]
    lines.append("ExecStart=" + " ".join(shlex.quote(bit) for bit in spec.argv))
    if spec.reloads:
        lines.append("ExecReload=/bin/kill -HUP $MAINPID")
    lines += ["Restart=on-failure", "RestartSec=2", "", "[Install]",
              "WantedBy=multi-user.target"]
    return "\n".join(lines) + "\n"
