"""pgbouncer's configuration for one environment on its host, from the Environment alone.

The pooler role installs it and `pgstead plan` shows it, byte for byte the same.
"""

from __future__ import annotations

from typing import Protocol

from pgstead.config.budget import pools
from pgstead.config.model import Environment
from pgstead.desired.settings import TLS_FILES
from pgstead.render.pgbouncer import (
    ClientTls,
    client_sslmode,
    pgbouncer_paths,
    render_pgbouncer_ini,
)


class ServedBy(Protocol):
    """What pgbouncer's configuration needs to know of the server (a pgstead.server `Server`)."""

    @property
    def config_dir(self) -> str: ...

    @property
    def socket_port(self) -> int: ...


def pgbouncer_config(env: Environment, server: ServedBy) -> str:
    """pgbouncer.ini: the server over its local socket, TLS to clients with the server's own
    certificate and key, one pool per pooled user."""
    tls = None
    if env.tls.enabled:
        base = server.config_dir
        tls = ClientTls(sslmode=client_sslmode(env.tls.enabled, env.tls.require),
                        cert=f"{base}/{TLS_FILES['cert']}", key=f"{base}/{TLS_FILES['key']}",
                        ca=f"{base}/{TLS_FILES['ca']}", min_protocol=env.tls.min_protocol)
    return render_pgbouncer_ini(env_name=env.name, source=env.source.name, pooler=env.pooler,
                                pools=pools(env), server_port=server.socket_port,
                                paths=pgbouncer_paths(env.name), tls=tls)
