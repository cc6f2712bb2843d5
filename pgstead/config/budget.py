"""The connection budget: per-user limits must fit in what max_connections leaves for them."""

from __future__ import annotations

from pgstead.config.findings import Findings
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
