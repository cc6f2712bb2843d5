"""Which hosts balance the cluster's endpoints, and where an application finds them. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from pgstead.config.model import Environment


def balancers(env: Environment, hosts: Sequence[str]) -> list[str]:
    """The hosts (by inventory name, in inventory order) that run HAProxy."""
    assert env.ha is not None
    declared = env.ha.balancers
    return [h for h in hosts if declared is None or h in declared]


def runs_balancer(env: Environment, host_name: str) -> bool:
    return env.ha is not None and (env.ha.balancers is None or host_name in env.ha.balancers)


def endpoint_addresses(env: Environment, members: Sequence[tuple[str, str]]) -> list[str]:
    """The addresses an application reaches the endpoints on: each balancer's. Every member's
    certificate carries them, so `sslmode=verify-full` holds through HAProxy (which passes
    TLS through to whichever member it picks)."""
    if env.ha is None:
        return []
    chosen = set(balancers(env, [name for name, _ in members]))
    return [address for name, address in members if name in chosen]


def endpoint_sans(env: Environment, members: Sequence[tuple[str, str]]) -> list[str]:
    """Names PostgreSQL's certificate must carry on every member so that a client of the
    endpoints verifies it (verify-full): each balancer's address, and the virtual address."""
    if env.ha is None:
        return []
    vip = [env.ha.vip.split("/", 1)[0]] if env.ha.vip else []
    return [*endpoint_addresses(env, members), *vip]
