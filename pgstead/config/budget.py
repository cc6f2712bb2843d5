"""The connection budget: per-user limits, and the pooler's pools with every connection that
bypasses them, must fit in what max_connections leaves for them."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pgstead.config.findings import Findings
from pgstead.config.model import Environment, Pooler, User
from pgstead.config.raw import entries, is_present, section

DEFAULT_MAX_CONNECTIONS = 100
DEFAULT_SUPERUSER_RESERVED = 3


def check_connection_budget(document: dict, findings: Findings) -> None:
    settings = section(document, "postgres", "settings")
    max_connections = _int_setting(settings, "max_connections", DEFAULT_MAX_CONNECTIONS)
    reserved = _int_setting(settings, "superuser_reserved_connections",
                            DEFAULT_SUPERUSER_RESERVED)
    if max_connections is None or reserved is None:
        return  # not a number: the settings check reports it
    limits = [
        (user.get("name"), user["connection_limit"])
        for _, user in entries(document, "users")
        if is_present(user) and isinstance(user.get("connection_limit"), int)
        and not isinstance(user.get("connection_limit"), bool) and user["connection_limit"] >= 0
    ]
    total = sum(limit for _, limit in limits)
    if total + reserved > max_connections:
        listed = ", ".join(f"{name} {limit}" for name, limit in limits)
        findings.error(("users",), f"connection limits add up to {total} ({listed}) plus "
                       f"{reserved} superuser_reserved_connections = {total + reserved}, more "
                       f"than max_connections {max_connections}: raise "
                       "postgres.settings.max_connections or lower the limits")


def _int_setting(settings: dict, name: str, default: int) -> int | None:
    value = settings.get(name, default)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def derived_connection_limit(max_connections: int, reserved: int, declared: list[int],
                             undeclared: int) -> int:
    """An equal share of the connections left after the reserved and the declared ones."""
    if undeclared <= 0:
        return -1
    left = max_connections - reserved - sum(limit for limit in declared if limit >= 0)
    return max(1, left // undeclared)


# Server connections a backup run holds at most: the dump, then its verifying restore.
BACKUP_CONNECTIONS = 2
# The exporter reads everything over one connection to the postgres database.
EXPORTER_CONNECTIONS = 1


@dataclass(frozen=True)
class Pool:
    """One pgbouncer pool: the server connections of one user in its database."""

    database: str
    user: str
    size: int
    mode: str  # transaction | session


def pooled_users(env: Environment) -> list[User]:
    """The users the pooler lets in: present, with a password and a database.

    The postgres superuser and `auth: cert` users are never among them (the first is not a
    declared user; the second has no verifier for pgbouncer to check).
    """
    return [u for u in env.users if u.state == "present" and u.auth == "password"
            and u.password is not None and u.database is not None]


def pool_size_for(user: User, pooler: Pooler) -> int:
    """A declared pool size, else the user's connection_limit less a tenth (at least one)
    left for its direct connections, else the pooler's default."""
    if user.name in pooler.pool_sizes:
        return pooler.pool_sizes[user.name]
    if user.connection_limit < 0:
        return pooler.default_pool_size
    return max(1, user.connection_limit - max(1, math.ceil(user.connection_limit / 10)))


def pools(env: Environment) -> list[Pool]:
    return [Pool(u.database or "", u.name, pool_size_for(u, env.pooler),
                 env.pooler.mode_of(u.database or "")) for u in pooled_users(env)]


def direct_needs(env: Environment) -> list[tuple[str, int]]:
    """Server connections that bypass the pooler, by what needs them."""
    needs = [("pooler.direct_connections", env.pooler.direct_connections)]
    if env.backups.enabled:
        jobs = env.backups.jobs if env.backups.format == "directory" else 1
        needs.append(("backups", max(BACKUP_CONNECTIONS, jobs + 1)))
    if env.monitoring.exporter:
        needs.append(("the exporter", EXPORTER_CONNECTIONS))
    return [(what, count) for what, count in needs if count > 0]


def check_pooler_budget(env: Environment, findings: Findings) -> None:
    """The pools plus every direct connection must fit in max_connections."""
    if not env.pooler.enabled:
        return
    settings = env.postgres.settings
    max_connections = _int_setting(settings, "max_connections", DEFAULT_MAX_CONNECTIONS)
    reserved = _int_setting(settings, "superuser_reserved_connections",
                            DEFAULT_SUPERUSER_RESERVED)
    if max_connections is None or reserved is None:
        return
    planned = pools(env)
    pooled = sum(p.size for p in planned)
    direct = [*direct_needs(env), ("superuser_reserved_connections", reserved)]
    total = pooled + sum(count for _, count in direct)
    if total <= max_connections:
        return
    listed = ", ".join(f"{p.user} {p.size}" for p in planned) or "none"
    extra = ", ".join(f"{count} {what}" for what, count in direct)
    findings.error(("pooler",), f"the pooler's pools need {pooled} server connections "
                   f"({listed}) plus {extra} = {total}, more than max_connections "
                   f"{max_connections}: raise postgres.settings.max_connections, lower the "
                   "users' connection_limit or declare smaller pooler.pools")
