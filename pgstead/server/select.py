"""Which `Server` an environment runs on a host: a native cluster or a compose service."""

from __future__ import annotations

from pyinfra import host
from pyinfra.context import ctx_host

from pgstead.config.members import Member, member_address
from pgstead.config.model import Environment
from pgstead.render.compose import CONTAINER_CONF_DIR, CONTAINER_PORT, SERVICE, layout_for
from pgstead.render.ha_layout import (
    PATRONI_DIR,
)
from pgstead.server.patroni import PatroniNode
from pgstead.server.psql import Server

COMPOSE_WRAPPER = "pgstead-compose"  # installed in /usr/local/sbin by the compose role
RESTART_WAIT_SECONDS = 120

# Restart the service, then return only once the server accepts connections again (or fail).
# $1 is the compose file; nothing here is a secret.
_RESTART = (
    f'{COMPOSE_WRAPPER} -f "$1" restart {SERVICE} >&2 || exit 1; i=0; '
    f'while [ $i -lt {RESTART_WAIT_SECONDS} ]; do '
    f'{COMPOSE_WRAPPER} -f "$1" exec -T -u postgres {SERVICE} '
    f'pg_isready -q -p {CONTAINER_PORT} 2>/dev/null && exit 0; i=$((i+1)); sleep 1; done; '
    f'echo "pgstead: {SERVICE} not ready {RESTART_WAIT_SECONDS} s after a restart" >&2; exit 1'
)


def server_for(env: Environment) -> Server:
    pg = env.postgres
    if env.ha is not None:
        scope = env.ha.scope or env.name
        # The member is this pyinfra host; an offline plan (no host) names none.
        me = (Member(host.name, member_address(host.data, host.name)) if ctx_host.isset()
              else Member(scope, ""))
        return Server(version=pg.version, cluster=scope, port=pg.port, conf_dir=PATRONI_DIR,
                      patroni=PatroniNode(scope, me))
    if pg.install != "compose":
        return Server(version=pg.version, cluster=pg.cluster, port=pg.port)
    layout = layout_for(env)
    compose = (COMPOSE_WRAPPER, "-f", layout.compose_file)
    return Server(
        version=pg.version,
        cluster=env.name,
        port=pg.port,
        exec_prefix=(*compose, "exec", "-T", "-u", "postgres", SERVICE),
        inner_port=CONTAINER_PORT,
        restart=("sh", "-c", _RESTART, "pgstead-restart", layout.compose_file),
        conf_dir=CONTAINER_CONF_DIR,
        host_conf_dir=layout.conf_dir,
        image=env.compose.image if env.compose else None,
    )
