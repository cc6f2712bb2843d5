"""Minor upgrades (`postgres.upgrade: minor`): the server's packages follow the newest version
the host's apt sources offer. A single server installs and restarts under restart_policy; a
Patroni cluster goes one member at a time, replicas first, then a switchover, then the old
leader, so no two members are down at once and writes stop only for the switchover.

Placed after the Patroni and endpoints roles: it drives the member through pgstead-patroni and
pgstead-ha-ops, which those roles install, and runs on a cluster that is up.
"""

from __future__ import annotations

from pyinfra.api import deploy

from pgstead.config.model import Environment
from pgstead.desired.upgrade import upgrade_packages
from pgstead.operations import upgrade as upgrade_ops
from pgstead.server.select import server_for
from roles.ha import members, patroni_daemon


@deploy("Minor upgrade")
def upgrade(env: Environment) -> None:
    pg = env.postgres
    if pg.upgrade != "minor" or pg.install != "native":
        return
    server = server_for(env)
    names = upgrade_packages(env)
    if server.patroni is None:
        upgrade_ops.server_upgraded(name=f"{', '.join(names)}: newest minor, then a restart",
                                    server=server, packages=names,
                                    restart_policy=pg.restart_policy)
        return
    node, daemon, count = server.patroni, patroni_daemon(env, server), len(members())
    # Host after host: each replica streams again before the next one goes down.
    upgrade_ops.member_upgraded(name="Replicas upgraded one at a time", node=node,
                                port=server.port, packages=names, daemon=daemon,
                                members=count, restart_policy=pg.restart_policy, _serial=True)
    upgrade_ops.member_upgraded(name="Leader upgraded last, after a switchover", node=node,
                                port=server.port, packages=names, daemon=daemon, members=count,
                                leader=True,
                                restart_policy=pg.restart_policy)
