"""The cluster's endpoints: HAProxy on each balancer (every member unless `ha.balancers` lists
some), one port for the leader and one for the replicas, checked on Patroni's REST API over
TLS with the environment's CA. Supervised like Patroni and etcd; a changed config is reloaded
(HAProxy's master starts new workers, old connections finish on the old ones)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from pgstead.config.model import Environment
from pgstead.desired.endpoints import runs_balancer
from pgstead.operations import endpoints as endpoint_ops
from pgstead.operations import ha as ha_ops
from pgstead.operations import packages
from pgstead.operations.files import Directory, File, managed_files
from pgstead.render.haproxy import Backend, render_haproxy_config
from pgstead.server.patroni import API_PORT
from pgstead.server.select import server_for
from roles.ha import _digest, _member_certificate, members

HAPROXY_DIR = "/etc/pgstead/haproxy"
HAPROXY_CONFIG = f"{HAPROXY_DIR}/haproxy.cfg"
HAPROXY_CA = f"{HAPROXY_DIR}/ca.crt"


def render_balancer_config(env: Environment) -> str:
    assert env.ha is not None
    backends = [Backend(m.name, m.address, env.postgres.port, API_PORT) for m in members()]
    return render_haproxy_config(env.ha.scope or env.name, env.ha.endpoints, backends,
                                 HAPROXY_CA)


@deploy("Endpoints (HAProxy)")
def endpoints(env: Environment) -> None:
    server = server_for(env)
    if server.managed_by != "patroni" or not runs_balancer(env, host.name):
        return
    packages.installed(name="HAProxy", packages=["haproxy"])
    endpoint_ops.package_haproxy_quiet(name="The package's own HAProxy neither runs nor "
                                       "starts at boot")
    ca, _, _ = _member_certificate(env, server.patroni.member)
    config = render_balancer_config(env)
    managed_files(name="HAProxy config and the CA its checks trust", entries=[
        Directory(HAPROXY_DIR, "root", "haproxy", "750"),
        File(HAPROXY_CA, ca, "root", "haproxy", "644"),
        File(HAPROXY_CONFIG, config, "root", "haproxy", "640"),
    ])
    # -W: master-worker, so USR2 reloads without dropping what the old workers carry.
    ha_ops.supervised(name="HAProxy serves the leader and read ports", daemon="haproxy",
                      user="haproxy", command=["/usr/sbin/haproxy", "-W", "-db", "-f",
                                               HAPROXY_CONFIG],
                      digest=_digest(config, ca), on_change="reload", reload_signal="USR2")
