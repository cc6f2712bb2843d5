"""A minor upgrade: which of the server's packages move, from which version to which, and what
must restart so the new code runs."""

from __future__ import annotations

from dataclasses import dataclass

from pgstead.config.model import Environment
from pgstead.desired import hardening
from pgstead.live.packages import UpgradeState

PATRONI = "patroni"


def upgrade_packages(env: Environment) -> list[str]:
    """The packages `postgres.upgrade: minor` keeps at the newest version: the server, its
    client, the extensions the hardening level installs, and Patroni under `ha`. The major is
    in each name, so none of them can move to another major."""
    version = env.postgres.version
    names = [f"postgresql-{version}", f"postgresql-client-{version}", *hardening.packages(env)]
    if env.ha is not None:
        names.append(PATRONI)
    return names


@dataclass(frozen=True)
class Upgrade:
    moves: tuple[tuple[str, str, str], ...]  # (package, installed version, new version)
    # What must restart afterwards: "patroni" (the daemon, and with it PostgreSQL),
    # "postgres" (the server only) or None (a client package only, or nothing).
    restart: str | None

    def __bool__(self) -> bool:
        return bool(self.moves or self.restart)

    def describe(self) -> list[str]:
        lines = [f"{name} {old} -> {new}" for name, old, new in self.moves]
        if self.restart == PATRONI:
            lines.append("restart Patroni (and with it PostgreSQL) onto the new code")
        elif self.restart:
            lines.append("restart PostgreSQL onto the new binaries")
        return lines


def _client_only(name: str) -> bool:
    return name.startswith("postgresql-client-")


def plan_upgrade(state: UpgradeState) -> Upgrade:
    """The packages whose candidate is newer than the installed version, and the restart they
    (or daemons still running code replaced before this apply) need."""
    moves = tuple((p.name, p.installed, p.candidate) for p in state.packages
                  if p.newer and p.installed and p.candidate)
    moved = {name for name, _, _ in moves}
    if PATRONI in moved or state.patroni_stale:
        restart: str | None = PATRONI
    elif state.postmaster_stale or any(not _client_only(name) for name in moved):
        restart = "postgres"
    else:
        restart = None
    return Upgrade(moves, restart)
