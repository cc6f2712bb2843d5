"""Monitoring: the exporter's role, pg_stat_statements, and prometheus-postgres-exporter."""

from pathlib import Path

from pyinfra.api import deploy

from pgstead.config.model import Environment
from pgstead.config.secrets import resolve_password
from pgstead.operations import daemon as daemon_ops
from pgstead.operations import monitoring as monitoring_ops
from pgstead.operations.files import Directory, File
from pgstead.pki.bcrypt_hash import bcrypt_hash
from pgstead.render.daemon import DaemonSpec, unit_name
from pgstead.render.exporter import (
    MONITOR_ROLE,
    WEB_USER,
    data_source,
    exporter_argv,
    exporter_paths,
    exposed,
    render_queries,
    render_web_config,
)
from pgstead.server.select import server_for
from roles.tls import host_certificate

# The password of the exporter's basic auth user (WEB_USER) on a declared address, in the
# controller's state directory (secrets/exporter-web.password), for Prometheus' scrape config.
WEB_PASSWORD_NAME = "exporter-web"


def exporter_spec(env: Environment) -> DaemonSpec:
    m = env.monitoring
    paths = exporter_paths(env.name)
    return DaemonSpec(name=f"exporter-{env.name}",
                      argv=exporter_argv(m.listen_address, m.port, paths), user=MONITOR_ROLE,
                      description=f"prometheus-postgres-exporter for pgstead ({env.name})",
                      environment={"DATA_SOURCE_NAME": data_source(server_for(env).socket_port)},
                      reload_signal=None, after=("postgresql.service", unit_name("patroni")),
                      ready_port=m.port, log=paths.log)


def exporter_files(env: Environment) -> list:
    paths = exporter_paths(env.name)
    files = [Directory("/etc/pgstead"),
             File(paths.queries, render_queries(env.monitoring.statements), "root",
                  MONITOR_ROLE, "640")]
    if exposed(env.monitoring.listen_address):
        _, _, cert_pem, key_pem = host_certificate(env)
        password = resolve_password({"generate": True}, user=WEB_PASSWORD_NAME,
                                    base_dir=Path(env.source).parent, state_dir=env.state_dir)
        files += [File(paths.tls_cert, cert_pem, "root", MONITOR_ROLE, "644"),
                  File(paths.tls_key, key_pem, MONITOR_ROLE, MONITOR_ROLE, "600"),
                  File(paths.web_config, render_web_config(
                      paths, WEB_USER, bcrypt_hash(password.reveal(), env.name)),
                      "root", MONITOR_ROLE, "640")]
    return files


@deploy("Monitoring")
def monitoring(env: Environment) -> None:
    m = env.monitoring
    if not m.exporter:
        # pgstead's exporter, if an earlier file had one: stopped, with its files; its log,
        # the monitor role and pg_stat_statements stay.
        paths = exporter_paths(env.name)
        daemon_ops.unsupervised(name="No exporter", spec=exporter_spec(env),
                                files=[paths.queries, paths.web_config, paths.tls_cert,
                                       paths.tls_key])
    if not (m.exporter or m.statements):
        return
    server = server_for(env)
    monitoring_ops.monitor_role(name=f"Monitor role on {server}", server=server,
                                role=MONITOR_ROLE, statements=m.statements)
    if m.exporter:
        # Hardening keeps the socket 0770 postgres:postgres; the exporter joins the group (it
        # reads no password: the pooler's auth file is 0600 and the server's key too).
        monitoring_ops.group_member(name=f"{MONITOR_ROLE} reaches the server's socket",
                                    user=MONITOR_ROLE, group="postgres")
        monitoring_ops.exporter(name=f"Exporter on {m.listen_address}:{m.port}",
                                spec=exporter_spec(env), files=exporter_files(env))
