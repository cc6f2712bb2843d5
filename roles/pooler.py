"""Connection pooling: pgbouncer in front of the server, on the server's host."""

from pyinfra.api import deploy

from pgstead.config.budget import pooled_users
from pgstead.config.model import Environment
from pgstead.desired.pooler import pgbouncer_config
from pgstead.operations import daemon as daemon_ops
from pgstead.operations import pooler as pooler_ops
from pgstead.render.daemon import DaemonSpec, unit_name
from pgstead.render.pgbouncer import pgbouncer_paths
from pgstead.server.select import server_for


def pgbouncer_spec(env: Environment) -> DaemonSpec:
    paths = pgbouncer_paths(env.name)
    listen = f"{','.join(env.pooler.listen_addresses)}:{env.pooler.port}"
    return DaemonSpec(name=f"pgbouncer-{env.name}", argv=(pooler_ops.PGBOUNCER, paths.config),
                      user="postgres", description=f"pgbouncer for pgstead ({env.name})",
                      reload_signal="HUP", notify=True, restart_on=listen,
                      after=("postgresql.service", unit_name("patroni")),
                      ready_port=env.pooler.port if env.pooler.listen_addresses else None,
                      log=paths.log)


@deploy("Connection pooler")
def pooler(env: Environment) -> None:
    if not env.pooler.enabled:
        # pgstead's instance, if an earlier file had one: stopped, with its files (the auth
        # file holds the users' verifiers); its log stays.
        paths = pgbouncer_paths(env.name)
        daemon_ops.unsupervised(name="No pooler", spec=pgbouncer_spec(env),
                                files=[paths.config, paths.auth_file])
        return
    server = server_for(env)
    pooler_ops.pgbouncer(name=f"pgbouncer on port {env.pooler.port}", spec=pgbouncer_spec(env),
                         paths=pgbouncer_paths(env.name), config=pgbouncer_config(env, server),
                         server=server, users=pooled_users(env))
