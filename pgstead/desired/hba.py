"""The pg_hba.conf an environment puts on a host: the file's rules, with what hardening and the
install mode add, rendered by pgstead.render.pg_hba."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from pgstead.config.model import Environment, HbaRule
from pgstead.desired.hardening import superuser_tcp_rejects
from pgstead.render.exporter import MONITOR_ROLE
from pgstead.render.pg_hba import render_pg_hba


def _from_the_host(rule: HbaRule) -> HbaRule:
    """A loopback rule as a container sees it: clients on the host reach a published port
    from the container network's gateway, which `samenet` names (and nothing remote)."""
    try:
        network = ipaddress.ip_network(rule.address or "", strict=False)
    except ValueError:
        return rule
    return replace(rule, address="samenet") if network.is_loopback else rule


def pg_hba_for(env: Environment) -> str:
    # Hardening (superuser_local_only) puts rejects of postgres over TCP before the file's rules.
    rules = (*superuser_tcp_rejects(env), *env.hba)
    if env.monitoring.exporter:
        # The exporter's role, as the OS user of the same name and nothing else: no password.
        rules = (HbaRule("local", "postgres", MONITOR_ROLE, "peer"), *rules)
    if env.postgres.install == "compose":
        rules = tuple(_from_the_host(rule) for rule in rules)
    return render_pg_hba(rules, env.users, allow_trust=env.security.allow_trust,
                         source=env.source.name)
