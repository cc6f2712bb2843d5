"""Checks of `ha.balancers` and `ha.endpoints`: HAProxy's ports must not collide with each
other or with the ports a member already serves, and the balancers must be members."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from pgstead.config.findings import Findings
from pgstead.config.ha_check import ha_enabled
from pgstead.config.raw import section, strings

# Ports every member already listens on (Patroni's REST API, etcd's client and peer ports).
MEMBER_PORTS = {8008: "Patroni's REST API", 2379: "etcd's client port", 2380: "etcd's peer port"}
ENDPOINT_PORTS = (("leader_port", 5000), ("read_port", 5001), ("stats_port", 7000),
                  ("direct_port", 5002))


def check_endpoints(document: dict, findings: Findings) -> None:
    if not ha_enabled(document):
        return
    endpoints = section(document, "ha", "endpoints")
    taken = {**MEMBER_PORTS}
    pg_port = section(document, "postgres").get("port", 5432)
    if isinstance(pg_port, int):
        taken[pg_port] = "PostgreSQL's port (postgres.port)"
    pooler = document.get("pooler")
    if isinstance(pooler, dict) and pooler.get("enabled") is not False:
        pooler_port = pooler.get("port", 6432)
        if isinstance(pooler_port, int):
            taken.setdefault(pooler_port, "pgbouncer's port (pooler.port)")
    for key, default in ENDPOINT_PORTS:
        port = endpoints.get(key, default)
        if not isinstance(port, int) or isinstance(port, bool):
            continue  # the schema reported it
        at = ("ha", "endpoints", key) if key in endpoints else ("ha",)
        if port in taken:
            findings.error(at, f"{key} {port} is already {taken[port]} on every member: "
                           "choose another port")
        else:
            taken[port] = f"ha.endpoints.{key}"
    bind = endpoints.get("bind")
    if isinstance(bind, str):
        try:
            ipaddress.ip_address(bind)
        except ValueError:
            findings.error(("ha", "endpoints", "bind"), f"{bind!r} is not an IP address "
                           "(0.0.0.0 listens on every address of the host)")
    _check_vip(section(document, "ha"), findings)
    seen: set[str] = set()
    for index, name in strings(section(document, "ha").get("balancers")):
        if name in seen:
            findings.error(("ha", "balancers", index), f"{name} is listed twice: a host runs "
                           "one HAProxy")
        seen.add(name)


def check_balancers(document: dict, findings: Findings, hosts: Sequence[object]) -> None:
    """Each balancer listed must be a host of the inventory (it runs beside a member)."""
    known = {h.name for h in hosts}  # type: ignore[attr-defined]
    for index, name in strings(section(document, "ha").get("balancers")):
        if name not in known:
            findings.error(("ha", "balancers", index), f"{name} is not a host of the "
                           f"inventory ({', '.join(sorted(known)) or 'none'})")


def _check_vip(ha: dict, findings: Findings) -> None:
    vip = ha.get("vip")
    if not isinstance(vip, str):
        return
    try:
        ipaddress.ip_interface(vip)
    except ValueError:
        findings.error(("ha", "vip"), f"{vip!r} is not an IPv4 address with a prefix length "
                       "(e.g. 10.0.0.50/24)")
        return
    if not ha.get("interface"):
        findings.error(("ha", "vip"), "ha.vip needs ha.interface: the network interface that "
                       "carries the address on every member (e.g. eth0)")
