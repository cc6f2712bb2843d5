"""How an application connects to an HA cluster: HAProxy's leader port for writes, its read
port for reads, and the libpq multi-host URL for clients that follow the leader themselves
(node-postgres has no multi-host form, so DATABASE_URL is the endpoint). Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pgstead.cli.connection_info import ConnectionInfo, ConnectionInfoError
from pgstead.config.model import Environment
from pgstead.desired.endpoints import endpoint_addresses


def ha_variables(env: Environment, info: ConnectionInfo, members: Sequence[tuple[str, str]],
                 endpoint: str | None, *, show_secrets: bool = False) -> dict[str, str]:
    """DATABASE_URL through the leader port, DATABASE_URL_READONLY through the read port,
    DATABASE_URL_MULTIHOST over every member (`info`), then the leader endpoint's DB_*."""
    assert env.ha is not None
    addresses = endpoint_addresses(env, members)
    vip = env.ha.vip.split("/", 1)[0] if env.ha.vip else None
    where = endpoint or vip or (addresses[0] if addresses else None)
    if where is None:
        raise ConnectionInfoError(f"{env.source} is an HA cluster: pass --inventory (its "
                                  "balancers) or --endpoint ADDRESS")
    ports = env.ha.endpoints
    pooled = info.direct_port is not None
    # HAProxy picks the member: no target_session_attrs, one host. Through the pooler the
    # leader and read ports reach the members' pgbouncer, and the direct port the leader's
    # PostgreSQL itself (DIRECT_DATABASE_URL).
    writes = replace(info, hosts=(where,), port=ports.leader_port, target_session_attrs=None,
                     direct_port=ports.direct_port if pooled else None)
    reads = replace(writes, port=ports.read_port)
    # libpq's target_session_attrs asks the server itself whether it takes writes: the
    # multi-host URL goes to PostgreSQL's own port on every member, past any pooler.
    multihost = replace(info, port=info.direct_port or info.port, direct_port=None,
                        url_params=())
    out = writes.variables(show_secrets=show_secrets)
    urls = {"DATABASE_URL": out.pop("DATABASE_URL"),
            **({"DIRECT_DATABASE_URL": out.pop("DIRECT_DATABASE_URL")} if pooled else {}),
            "DATABASE_URL_READONLY": reads.database_url(show_secrets=show_secrets),
            "DATABASE_URL_MULTIHOST": multihost.database_url(show_secrets=show_secrets)}
    return {**urls, **out}
