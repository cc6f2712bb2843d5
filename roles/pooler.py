"""Connection pooling: pgbouncer in front of the server, on the server's host."""

from pyinfra.api import deploy

from pgstead.config.budget import pooled_users
from pgstead.config.model import Environment
from pgstead.desired.pooler import pgbouncer_config
from pgstead.operations import pooler as pooler_ops
from pgstead.render.daemon import DaemonSpec
from pgstead.render.pgbouncer import pgbouncer_paths
from pgstead.server.select import server_for


def pgbouncer_spec(env: Environment) -> DaemonSpec:
    paths = pgbouncer_paths(env.name)
    listen = f"{','.join(env.pooler.listen_addresses)}:{env.pooler.port}"
    return DaemonSpec(name=f"pgstead-pgbouncer-{env.name}",
                      argv=(pooler_ops.PGBOUNCER, paths.config), user="postgres",
                      log=paths.log, reloads=True, notify=True, restart_on=listen)


@deploy("Connection pooler")
def pooler(env: Environment) -> None:
    if not env.pooler.enabled:
        return
    server = server_for(env)
    pooler_ops.pgbouncer(name=f"pgbouncer on port {env.pooler.port}", spec=pgbouncer_spec(env),
                         paths=pgbouncer_paths(env.name), config=pgbouncer_config(env, server),
                         server=server, users=pooled_users(env))
