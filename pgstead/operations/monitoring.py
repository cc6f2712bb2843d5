"""Monitoring on a host: the exporter's role, pg_stat_statements, and the exporter daemon."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation
from pyinfra.facts.server import Users

from pgstead.facts.monitoring import MonitorRole
from pgstead.operations.daemon import with_files
from pgstead.operations.files import Entry
from pgstead.operations.plan_notes import plan_note
from pgstead.postgres.sql import ident, literal, render
from pgstead.render.daemon import DaemonSpec
from pgstead.render.exporter import EXPORTER
from pgstead.server.psql import Server, psql_script

MONITOR_CONNECTION_LIMIT = 3
PACKAGE_SERVICE = "prometheus-postgres-exporter"
PACKAGE_PIDFILE = "/run/prometheus/prometheus-postgres-exporter.pid"


@operation()
def monitor_role(server: Server, role: str, statements: bool):
    """
    Ensure the exporter's role exists: LOGIN, no password, no superuser, in pg_monitor; and
    pg_stat_statements in the postgres database when ``statements``.

    + server: the `Server`
    + role: the role's name (the OS user the exporter runs as, for peer authentication)
    + statements: create pg_stat_statements in the postgres database

    **Example:**

    .. code:: python

        monitoring.monitor_role(name="Monitor role", server=server, role="prometheus",
                                statements=True)
    """
    live = host.get_fact(MonitorRole, server=server, role=role)
    scripts: list[str] = []
    if (live is None or not live.exists or not live.login or live.superuser or live.password
            or live.connection_limit != MONITOR_CONNECTION_LIMIT or not live.pg_monitor):
        plan_note(server, f"role {role}: login, no password, pg_monitor")
        scripts.append(render("monitor_role", name=ident(role), name_text=literal(role),
                              limit=literal(MONITOR_CONNECTION_LIMIT)))
    if statements and (live is None or not live.statements):
        plan_note(server, "extension pg_stat_statements in database postgres")
        scripts.append(render("db_extension_create", name=ident("pg_stat_statements"),
                              schema=ident("public")))
    if not scripts:
        host.noop(f"{server}: role {role} ready for the exporter")
        return
    yield psql_script(server, "\n".join(scripts))


@operation()
def group_member(user: str, group: str):
    """
    Ensure an OS user is in a supplementary group (one the server's socket admits).

    + user: the OS user, which must exist
    + group: the group to add it to

    **Example:**

    .. code:: python

        monitoring.group_member(name="Exporter reaches the socket", user="prometheus",
                                group="postgres")
    """
    users = host.get_fact(Users)
    if group in (users.get(user) or {}).get("groups", []):
        host.noop(f"{user} is in group {group}")
        return
    plan_note(user, f"join group {group} (the server's socket is 0770)")
    yield StringCommand("usermod", "-a", "-G", QuoteString(group), QuoteString(user))


@operation()
def exporter(spec: DaemonSpec, files: list[Entry]):
    """
    Ensure prometheus-postgres-exporter runs `spec` with these files.

    + spec: how the exporter runs (``exporter-<env>``, as the prometheus user)
    + files: its queries file and, on a declared address, its web config, certificate and key

    The exporter re-reads none of its files, so a change restarts it (it keeps no state).
    The package's own instance, which listens on every address, is stopped and disabled.

    **Example:**

    .. code:: python

        monitoring.exporter(name="Exporter", spec=spec,
                            files=[File(paths.queries, render_queries(True))])
    """
    commands = with_files(spec, files, (PACKAGE_SERVICE, PACKAGE_PIDFILE, EXPORTER))
    if not commands:
        host.noop(f"{spec.name} runs with its files")
        return
    yield from commands
