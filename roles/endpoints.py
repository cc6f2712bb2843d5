"""The cluster's endpoints: HAProxy on each balancer (every member unless `ha.balancers` lists
some), one port for the leader and one for the replicas, checked on Patroni's REST API over
TLS with the environment's CA. Supervised like Patroni and etcd; a changed config is reloaded
(HAProxy's master starts new workers, old connections finish on the old ones)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from pgstead.config.model import Environment
from pgstead.desired.endpoints import runs_balancer
from pgstead.operations import daemon as daemon_ops
from pgstead.operations import endpoints as endpoint_ops
from pgstead.operations import packages
from pgstead.operations.files import Directory, File, managed_files
from pgstead.render.daemon import DaemonSpec, unit_name
from pgstead.render.ha_layout import API_PORT, OPS_PROGRAM, PATRONI_CONFIG
from pgstead.render.haproxy import Backend, render_haproxy_config
from pgstead.render.keepalived import render_keepalived_config
from pgstead.server.select import server_for
from roles.ha import HOST_FILES, _digest, _member_certificate, members

HAPROXY_DIR = "/etc/pgstead/haproxy"
KEEPALIVED_DIR = "/etc/pgstead/keepalived"
KEEPALIVED_CONFIG = f"{KEEPALIVED_DIR}/keepalived.conf"
HAPROXY_CONFIG = f"{HAPROXY_DIR}/haproxy.cfg"
HAPROXY_CA = f"{HAPROXY_DIR}/ca.crt"


def render_balancer_config(env: Environment) -> str:
    assert env.ha is not None
    pooler = env.pooler.port if env.pooler.enabled else None
    backends = [Backend(m.name, m.address, env.postgres.port, API_PORT, pooler)
                for m in members()]
    return render_haproxy_config(env.ha.scope or env.name, env.ha.endpoints, backends,
                                 HAPROXY_CA)


def haproxy_spec(config_digest: str) -> DaemonSpec:
    # -W: master-worker, so USR2 reloads without dropping what the old workers carry.
    return DaemonSpec(name="haproxy", argv=("/usr/sbin/haproxy", "-W", "-db", "-f", HAPROXY_CONFIG),
                      user="haproxy", description="HAProxy for pgstead's Patroni cluster",
                      config_digest=config_digest, reload_signal="USR2",
                      after=(unit_name("patroni"),))


def keepalived_spec(config_digest: str) -> DaemonSpec:
    # keepalived re-reads its config on SIGHUP, keeping the address where it is if it may.
    return DaemonSpec(name="keepalived", argv=("/usr/sbin/keepalived", "--dont-fork",
                                               "--log-console", "--use-file", KEEPALIVED_CONFIG),
                      user="root", description="keepalived for pgstead's virtual address",
                      config_digest=config_digest, reload_signal="HUP",
                      after=(unit_name("patroni"),))


@deploy("Endpoints (HAProxy)")
def endpoints(env: Environment) -> None:
    server = server_for(env)
    if server.managed_by != "patroni":
        return
    managed_files(name="pgstead-ha-ops (cluster status, switchover)", entries=[
        File(OPS_PROGRAM, HOST_FILES / "pgstead-ha-ops", mode="755"),
    ])
    if not runs_balancer(env, host.name):
        return
    packages.installed(name="HAProxy", packages=["haproxy"])
    endpoint_ops.package_daemon_quiet(name="The package's own HAProxy neither runs nor "
                                      "starts at boot", package="haproxy")
    ca, _, _ = _member_certificate(env, server.patroni.member)
    config = render_balancer_config(env)
    managed_files(name="HAProxy config and the CA its checks trust", entries=[
        Directory(HAPROXY_DIR, "root", "haproxy", "750"),
        File(HAPROXY_CA, ca, "root", "haproxy", "644"),
        File(HAPROXY_CONFIG, config, "root", "haproxy", "640"),
    ])
    daemon_ops.supervised(name="HAProxy serves the leader and read ports",
                          spec=haproxy_spec(_digest(config, ca)))


def render_vip_config(env: Environment, me_name: str, me_address: str) -> str:
    assert env.ha is not None and env.ha.vip and env.ha.interface
    peers = [m.address for m in members() if m.name != me_name]
    return render_keepalived_config(env.ha.scope or env.name, me_name, me_address, peers,
                                    env.ha.vip, env.ha.interface,
                                    check=f"{OPS_PROGRAM} {PATRONI_CONFIG} vip-check")


@deploy("Virtual address (keepalived)")
def virtual_address(env: Environment) -> None:
    """keepalived on every member keeps `ha.vip` on the leader (see render.keepalived)."""
    server = server_for(env)
    if server.managed_by != "patroni" or env.ha is None or env.ha.vip is None:
        return
    me = server.patroni.member
    packages.installed(name="keepalived", packages=["keepalived"])
    endpoint_ops.package_daemon_quiet(name="The package's own keepalived neither runs nor "
                                      "starts at boot", package="keepalived")
    config = render_vip_config(env, me.name, me.address)
    managed_files(name=f"keepalived config for {env.ha.vip}", entries=[
        Directory(KEEPALIVED_DIR, "root", "root", "700"),
        File(KEEPALIVED_CONFIG, config, "root", "root", "600"),
    ])
    daemon_ops.supervised(name=f"keepalived keeps {env.ha.vip} on the leader",
                          spec=keepalived_spec(_digest(config)))
