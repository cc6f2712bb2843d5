"""Server parameters: tuning, secure baseline, TLS and the file's explicit settings.

Where they go is the `Server`'s to say: ALTER SYSTEM on a single server; under Patroni the
cluster-wide ones in its dynamic configuration (per-host ones are in the member's Patroni file,
written by the Patroni role), with restarts done by Patroni as a rolling restart.
"""

from pyinfra import host
from pyinfra.api import deploy

from pgstead.config.model import Environment
from pgstead.desired.ha import dynamic_configuration
from pgstead.desired.settings import desired_settings
from pgstead.facts.cluster import Resources
from pgstead.facts.settings import PgSettings
from pgstead.operations import ha as ha_ops
from pgstead.operations import settings as settings_ops
from pgstead.postgres import catalog, units
from pgstead.server.psql import Server
from pgstead.server.select import server_for
from roles.ha import split_for


def _restart_class_changes(server: Server, wanted: dict[str, str]) -> list[str]:
    """Restart-class parameters whose running value differs from `wanted` on this member."""
    live = host.get_fact(PgSettings, server=server, names=tuple(wanted))
    if live is None:
        return []
    known = catalog.parameters(server.version)
    changed = []
    for name, value in wanted.items():
        row = live.rows.get(name)
        if row is None or row.context != "postmaster":
            continue
        param = known.get(name)
        if not units.same(value, row.setting, row.vartype, row.unit,
                          enumvals=param.enumvals if param else None, name=name):
            changed.append(name)
    return changed


def _under_patroni(env: Environment, server: Server) -> None:
    cluster, local = split_for(env, server)
    node = server.patroni
    ha_ops.alter_system_reset(name=f"No ALTER SYSTEM values on {server}", server=server)
    ha_ops.dynamic_config(name=f"Patroni dynamic configuration of {node.scope}", node=node,
                          wanted=dynamic_configuration(env.ha, cluster))
    ha_ops.rolling_restart(name=f"Rolling restart of {node.scope} where a parameter needs it",
                           node=node,
                           restart_names=_restart_class_changes(server, {**cluster, **local}),
                           restart_policy=env.postgres.restart_policy)


@deploy("PostgreSQL settings")
def settings(env: Environment) -> None:
    server = server_for(env)
    if server.parameters_by == "patroni":
        _under_patroni(env, server)
        return
    wanted = desired_settings(env, host.get_fact(Resources), server.config_dir)
    settings_ops.parameters(
        name=f"Parameters of {server} ({len(wanted)} declared)",
        server=server, settings=wanted, restart_policy=env.postgres.restart_policy,
    )
