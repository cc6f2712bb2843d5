"""Semantic checks of the pooler section: what it names must be declared, and usable there."""

from __future__ import annotations

from pgstead.config.findings import Findings
from pgstead.config.ha_check import ha_enabled
from pgstead.config.raw import by_name, entries, is_present, section


def check_pooler(document: dict, findings: Findings) -> None:
    pooler = document.get("pooler") if isinstance(document, dict) else None
    if not isinstance(pooler, dict) or pooler.get("enabled") is False:
        return
    postgres = section(document, "postgres")
    if postgres.get("install", "native") == "compose":
        findings.error(("pooler",), "the pooler runs beside a native cluster (Debian's "
                       "pgbouncer on the host); with install: compose remove the pooler section")
    _check_behind_endpoints(document, pooler, findings)
    port = pooler.get("port", 6432)
    if port == postgres.get("port", 5432):
        findings.error(("pooler", "port"), f"port {port} is the server's own port "
                       "(postgres.port): give the pooler another one, such as 6432")
    databases = set(by_name(document, "databases"))
    for index, item in entries(pooler, "databases"):
        name = item.get("name")
        if isinstance(name, str) and name not in databases:
            findings.error(("pooler", "databases", index, "name"),
                           f"database {name!r} is not declared in databases")
    users = {name: user for name, user in by_name(document, "users").items() if is_present(user)}
    for index, item in entries(pooler, "pools"):
        name, size = item.get("user"), item.get("pool_size")
        user = users.get(name) if isinstance(name, str) else None
        if isinstance(name, str) and user is None:
            findings.error(("pooler", "pools", index, "user"),
                           f"user {name!r} is not a declared present user")
        elif user is not None and user.get("auth", "password") != "password":
            findings.error(("pooler", "pools", index, "user"),
                           f"user {name!r} logs in with a certificate: the pooler admits "
                           "password (SCRAM) users only")
        elif user is not None and isinstance(size, int):
            limit = user.get("connection_limit", -1)
            if isinstance(limit, int) and 0 <= limit < size:
                findings.error(("pooler", "pools", index, "pool_size"),
                               f"pool_size {size} is more than the connection_limit of user "
                               f"{name!r}, {limit}: the server would refuse the connections "
                               "past it")


WILDCARDS = ("*", "0.0.0.0", "::")


def _check_behind_endpoints(document: dict, pooler: dict, findings: Findings) -> None:
    """With ha, HAProxy on every balancer forwards to each member's pgbouncer at the member's
    own address, so pgbouncer must listen there; one file serves every member, so only a
    wildcard names each member's address."""
    if not ha_enabled(document):
        return
    declared = "listen_addresses" in pooler
    addresses = pooler.get("listen_addresses") if declared else \
        section(document, "postgres").get("listen_addresses", ["localhost"])
    if not isinstance(addresses, list) or any(a in WILDCARDS for a in addresses):
        return
    at = ("pooler", "listen_addresses") if declared else ("pooler",)
    findings.error(at, f"pgbouncer would listen on {', '.join(map(str, addresses))} only, and "
                   "with ha the balancers' HAProxy reaches each member's pgbouncer on the "
                   "member's own address: use listen_addresses: ['*'] (pgbouncer's TLS and "
                   "auth file still decide who logs in)")
