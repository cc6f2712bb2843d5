"""Which `Server` an environment runs on a host: a native cluster or a compose service."""

from __future__ import annotations

from pgstead.config.model import Environment
from pgstead.psql import Server


def server_for(env: Environment) -> Server:
    pg = env.postgres
    return Server(version=pg.version, cluster=pg.cluster, port=pg.port)
