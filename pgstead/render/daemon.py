"""How pgstead runs a daemon beside the server (etcd, Patroni, HAProxy, keepalived, pgbouncer,
the exporter), with or without systemd: one description, and what is rendered from it. Pure.

Without systemd `pgstead-supervise` (pgstead/data/host) runs it: a loop that starts it again
when it dies, and a record that the init script `pgstead-daemons` brings back at boot and
stops in order at shutdown. With systemd a unit `pgstead-<name>.service` runs the same
command line (Restart=on-failure). Either way one token, recorded beside the running daemon,
says with what it runs: its restart key (command line, environment, user, and anything else
that only a restart picks up, such as a listen address) and its config digest (the files it
reads). A changed restart key restarts it; a changed config digest reloads it when it can
re-read its files on a signal, and restarts it otherwise; the same token changes nothing.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass, field

SUPERVISOR = "/usr/local/sbin/pgstead-supervise"
INIT_SCRIPT = "/etc/init.d/pgstead-daemons"
RUN_DIR = "/run/pgstead"  # pgstead-supervise's pid, child and digest files
RECORD_DIR = "/etc/pgstead/supervise"  # pgstead-supervise's boot records
UNIT_DIR = "/etc/systemd/system"
TOKEN_DIR = "/var/lib/pgstead/units"  # with systemd: the token of each running unit

# Stop orders (lower stops first at shutdown; boot starts them the other way round).
FRONT = 1  # pgbouncer, the exporter, HAProxy, keepalived: nothing depends on them here
PATRONI = 2  # stops PostgreSQL itself
STORE = 3  # etcd: Patroni talks to it while it stops


@dataclass(frozen=True)
class DaemonSpec:
    name: str  # pgstead-supervise's name; the systemd unit is pgstead-<name>.service
    argv: tuple[str, ...]  # argv[0] is the absolute path of the program
    user: str
    description: str
    config_digest: str = ""  # sha256 of what it reads at start (its config, certificates)
    environment: dict[str, str] = field(default_factory=dict)  # never a secret
    reload_signal: str | None = "HUP"  # re-reads its files on this signal; None: restart
    notify: bool = False  # the program reports readiness with sd_notify (systemd Type=notify)
    # Anything besides argv, environment and user whose change needs a restart (a listen
    # address in a file the daemon re-reads on reload but cannot rebind from).
    restart_on: str = ""
    stop_order: int = FRONT
    stop_seconds: int = 30  # how long a stop may take before it is an error (or, with
    # systemd, before SIGKILL)
    # Stop only the main process and let it stop its children (Patroni stops PostgreSQL);
    # otherwise the whole process group is signalled.
    stop_main_only: bool = False
    after: tuple[str, ...] = ()  # systemd units this one starts after (and stops before)
    ready_port: int | None = None  # without systemd, a start waits until this port listens
    log: str | None = None  # without systemd, where its output goes (default
    # /var/log/pgstead/<name>.log); with systemd, the journal

    def __post_init__(self) -> None:
        if not self.argv or not self.argv[0].startswith("/"):
            raise ValueError(f"{self.name}: argv[0] must be an absolute path")

    @property
    def unit(self) -> str:
        return unit_name(self.name)

    @property
    def unit_path(self) -> str:
        return f"{UNIT_DIR}/{self.unit}"

    @property
    def token_path(self) -> str:
        return f"{TOKEN_DIR}/{self.name}"

    @property
    def restart_key(self) -> str:
        text = "\0".join([*self.argv, *(f"{k}={v}" for k, v in sorted(self.environment.items())),
                          self.user, self.restart_on])
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def token(self) -> str:
        return f"{self.restart_key}:{self.config_digest or '-'}"

    def supervise_arguments(self) -> list[str]:
        """What follows NAME USER DIGEST in `pgstead-supervise start` (and in its record)."""
        options = [f"--stop-order={self.stop_order}", f"--stop-seconds={self.stop_seconds}"]
        if self.log:
            options.append(f"--log={self.log}")
        env = [f"{k}={v}" for k, v in sorted(self.environment.items())]
        return [*options, "--", *env, *self.argv]


def unit_name(name: str) -> str:
    return f"pgstead-{name}.service"


def parse_token(text: str) -> tuple[str | None, str | None]:
    """(restart key, config digest) from a recorded token; (None, None) when none was.

    A digest alone is what pgstead-supervise recorded before restart keys existed: its
    restart key is unknown, and taken to be unchanged (its command line came from the same
    roles).
    """
    text = text.strip()
    if not text or text == "-":
        return None, None
    if ":" not in text:
        return "", text
    key, _, digest = text.partition(":")
    return key, ("" if digest == "-" else digest)


def render_supervise_record(spec: DaemonSpec) -> str:
    """The record `pgstead-supervise start` writes: user, token, then its arguments, one a line.
    The deploy compares its digest with the host's to know the record is current."""
    return "\n".join([spec.user, spec.token, *spec.supervise_arguments()]) + "\n"


def render_systemd_unit(spec: DaemonSpec) -> str:
    after = " ".join(["network-online.target", *spec.after])
    lines = ["# managed by pgstead; edits are overwritten.", "[Unit]",
             f"Description={spec.description}", f"After={after}",
             "Wants=network-online.target", "",
             "[Service]", f"Type={'notify' if spec.notify else 'simple'}", f"User={spec.user}"]
    lines += [f"Environment={shlex.quote(f'{k}={v}')}" for k, v in sorted(spec.environment.items())]
    lines.append("ExecStart=" + " ".join(shlex.quote(bit) for bit in spec.argv))
    if spec.reload_signal:
        lines.append(f"ExecReload=/bin/kill -{spec.reload_signal} $MAINPID")
    if spec.stop_main_only:
        # SIGTERM to the main process only, which stops its children itself; a crash of the
        # main process leaves them running for the restarted one to take over.
        lines.append("KillMode=process")
    lines += [f"TimeoutStopSec={spec.stop_seconds}", "Restart=on-failure", "RestartSec=2", "",
              "[Install]", "WantedBy=multi-user.target"]
    return "\n".join(lines) + "\n"
