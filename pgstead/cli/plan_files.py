"""The files a deploy would put on a host, made from the Environment alone (no host). Pure.

`pgstead plan` writes them for review: the configuration files byte for byte as the roles
install them, plus readable listings of the parameters (each with its reload/restart class)
and of the roles and grants. No secret value enters any of them: passwords show only where
they come from.
"""

from __future__ import annotations

from dataclasses import dataclass

from pgstead.config.budget import pooled_users
from pgstead.config.model import Environment, User
from pgstead.desired import hardening
from pgstead.desired.backup_files import backup_files
from pgstead.desired.grants import plan_database, plan_template_public
from pgstead.desired.ha import dynamic_configuration, split_settings
from pgstead.desired.hba import pg_hba_for
from pgstead.desired.pooler import pgbouncer_config
from pgstead.desired.settings import desired_settings, tuned
from pgstead.live.host import HostResources
from pgstead.pki.sans import server_sans
from pgstead.postgres import catalog
from pgstead.render.compose import layout_for, render_compose
from pgstead.render.exporter import (
    WEB_USER,
    exporter_paths,
    exposed,
    render_queries,
    render_web_config,
)
from pgstead.render.pgbackrest import (
    MAIN_CONFIG,
    default_data_directory,
    render_main_config,
    render_stanza_config,
    repo_path,
    stanza_config_path,
    stanza_name,
    uses_pgbackrest,
)
from pgstead.render.pgbouncer import pgbouncer_paths, render_auth_file
from pgstead.server.select import server_for

MASK = "********"
# What a change of a parameter in each pg_settings context takes to reach the server.
_CLASS_BY_CONTEXT = {
    "postmaster": "restart",
    "sighup": "reload",
    "superuser": "reload",
    "user": "reload",
    "backend": "reload, new sessions only",
    "superuser-backend": "reload, new sessions only",
}


@dataclass(frozen=True)
class PlannedFile:
    path: str  # relative to the plan directory
    content: str
    host_path: str | None  # where the deploy puts it; None for a listing that is no host file
    what: str


def change_class(major: int, name: str) -> str:
    """'restart', 'reload' or 'reload, new sessions only', from the catalog of `major`."""
    param = catalog.parameters(major).get(name)
    if param is None:
        # A library's own parameter (auth_delay.milliseconds): its library decides.
        return "extension parameter" if "." in name else "unknown parameter"
    return _CLASS_BY_CONTEXT.get(param.context, param.context)


def _conf_value(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _resources(env: Environment, memory_bytes: int | None,
               cpus: int | None) -> HostResources | None:
    memory = memory_bytes or env.postgres.tuning.memory_bytes
    count = cpus or env.postgres.tuning.cpus
    return HostResources(memory, count) if memory and count else None


# Two very different hosts: a parameter whose value differs between them depends on the host.
_SMALL_HOST = HostResources(memory_bytes=1024**3, cpus=1)
_LARGE_HOST = HostResources(memory_bytes=256 * 1024**3, cpus=64)


def _layer(env: Environment, name: str, value: str, tuned_values: dict[str, str]) -> str:
    declared = env.postgres.settings.get(name)
    if declared is not None:
        return "file" if declared == value else "file, completed by pgstead"
    if tuned_values.get(name) == value:
        return "tuning"
    return "pgstead"  # baseline, hardening, TLS


def render_settings(env: Environment, *, memory_bytes: int | None = None,
                    cpus: int | None = None) -> str:
    """postgresql.auto.conf as ALTER SYSTEM would leave it (the settings role's
    `desired_settings`), each line with its change class and where the value comes from."""
    pg = env.postgres
    server = server_for(env)
    resources = _resources(env, memory_bytes, cpus)
    header = [f"# postgresql.auto.conf: parameters pgstead sets with ALTER SYSTEM on "
              f"{server}, from {env.source.name}.",
              "# Each line: its change class (restart: needs a server restart; reload: "
              "pg_reload_conf) and where the value comes from."]
    if resources is not None:
        wanted = desired_settings(env, resources, server.config_dir)
        tuned_values = tuned(env, resources)
        host_dependent: list[str] = []
        header.append(f"# tuning (profile {pg.tuning.profile}) for "
                      f"{resources.memory_bytes // (1024 * 1024)}MB memory, "
                      f"{resources.cpus} CPUs")
    else:
        wanted = desired_settings(env, _SMALL_HOST, server.config_dir)
        large = desired_settings(env, _LARGE_HOST, server.config_dir)
        tuned_values = tuned(env, _SMALL_HOST)
        host_dependent = [n for n in dict.fromkeys([*wanted, *large])
                          if wanted.get(n) != large.get(n)]
        for name in host_dependent:
            wanted.pop(name, None)
        if host_dependent:
            header.append(f"# tuning (profile {pg.tuning.profile}): computed on the host from "
                          "its memory and CPUs; pass --memory and --cpus to see the values")
    lines = [f"{name} = {_conf_value(value)}  # {change_class(pg.version, name)}; "
             f"{_layer(env, name, value, tuned_values)}" for name, value in wanted.items()]
    lines += [f"# {name} = (computed on the host)  # {change_class(pg.version, name)}; tuning"
              for name in host_dependent]
    return "\n".join([*header, *lines]) + "\n"


def render_ha_settings(env: Environment, *, memory_bytes: int | None = None,
                       cpus: int | None = None) -> str:
    """With `ha`: the parameters as Patroni gets them, split as pgstead.desired.ha splits
    them: the dynamic configuration (cluster-wide, in etcd) and each member's own Patroni
    file (tuned from its memory and CPUs). Each line with its change class and source."""
    assert env.ha is not None
    pg = env.postgres
    server = server_for(env)
    resources = _resources(env, memory_bytes, cpus)
    probes = [resources] if resources is not None else [_SMALL_HOST, _LARGE_HOST]
    wanted = {f"host{i}": desired_settings(env, r, server.config_dir)
              for i, r in enumerate(probes)}
    split = split_settings(wanted, pg.settings)
    tuned_values = tuned(env, probes[0])
    # Values that differ between the probe hosts are computed on each member.
    computed = {n for n in split.cluster if len({w.get(n) for w in wanted.values()}) > 1}
    config = dynamic_configuration(env.ha, {})
    top = {k: v for k, v in config.items() if k != "postgresql"}
    top |= {f"postgresql.{k}": v for k, v in config["postgresql"].items() if k != "parameters"}

    def line(name: str, value: str) -> str:
        return (f"  {name} = {_conf_value(value)}  # {change_class(pg.version, name)}; "
                f"{_layer(env, name, value, tuned_values)}")

    out = [f"# Patroni's dynamic configuration for scope {env.ha.scope} (cluster-wide, in "
           f"etcd), from {env.source.name}: bootstrap.dcs at creation, then PATCH /config of "
           "the difference. No ALTER SYSTEM in HA mode.",
           "# Each parameter: its change class (restart: a rolling restart by Patroni; "
           "reload: every member reloads) and where the value comes from."]
    out += [f"{key}: {str(value).lower() if isinstance(value, bool) else value}"
            for key, value in top.items()]
    out.append("postgresql.parameters:")
    out += [line(n, v) for n, v in split.cluster.items() if n not in computed]
    out += [f"  # {n} = (the highest value among the members, computed on each)  "
            f"# {change_class(pg.version, n)}; tuning" for n in sorted(computed)]
    out += ["", "# Each member's own Patroni file (postgresql.parameters), tuned from that "
            "host's memory and CPUs:"]
    per_host = split.per_host[next(iter(wanted))]
    if resources is not None:
        out.append(f"# for {resources.memory_bytes // (1024 * 1024)}MB memory, "
                   f"{resources.cpus} CPUs")
        out += [line(n, v) for n, v in per_host.items()]
    else:
        names = dict.fromkeys(n for member in split.per_host.values() for n in member)
        out += [f"  # {n} = (computed on the host)  # {change_class(pg.version, n)}; tuning"
                for n in names]
    return "\n".join(out) + "\n"


def _password(user: User) -> str:
    if user.auth == "cert":
        return "none (client certificate)"
    if user.password is None:
        return "none"
    return f"{MASK} (from {user.password.source})"


def _user_line(user: User) -> str:
    if user.state == "absent":
        return f"- {user.name}: absent (dropped if present)"
    parts = ["LOGIN", *[a.upper() for a in user.attributes]]
    if user.role:
        parts.append(f"{user.role} on database {user.database}")
        if user.schemas:
            parts.append(f"schemas {', '.join(user.schemas)}")
    parts.append(f"connection limit {user.connection_limit}")
    parts.append(f"valid until {user.valid_until or 'infinity'}")
    parts.append(f"password {_password(user)}")
    return f"- {user.name}: " + "; ".join(parts)


def render_roles_and_grants(env: Environment) -> str:
    """Login roles with their attributes (passwords masked), then each database with the
    statements that set its ownership and privileges on a freshly created database."""
    lines = [f"# Roles and grants pgstead manages on {server_for(env)}, from "
             f"{env.source.name}.", "", "## Login roles"]
    lines += [_user_line(u) for u in env.users] or ["(none declared)"]
    managed = [u.name for u in env.users if u.state == "present"]
    lock_public = hardening.is_active(env, "public_schema_usage")
    for db in env.databases:
        lines += ["", f"## Database {db.name} (owner {db.owner})"]
        if db.schemas:
            lines.append(f"schemas: {', '.join(db.schemas)}")
        if db.extensions:
            lines.append(f"extensions: {', '.join(db.extensions)}")
        lines.append("# Statements for a new database; on a live one only the difference runs.")
        for statement in plan_database(db, env.users, managed, None, lock_public=lock_public):
            lines += [f"-- {statement.summary}", statement.sql.rstrip().rstrip(";") + ";"]
    if hardening.is_active(env, "superuser_connection_limit"):
        lines += ["", f"## Role {hardening.SUPERUSER}",
                  f"connection limit {hardening.superuser_connection_limit(env)} "
                  "(ALTER ROLE ... CONNECTION LIMIT; what backups, the exporter and an operator "
                  "need)"]
    if lock_public:
        lines += ["", "## Database template1 (so that new databases start locked)"]
        for statement in plan_template_public(None):
            lines += [f"-- {statement.summary}", statement.sql.rstrip().rstrip(";") + ";"]
    return "\n".join(lines) + "\n"


def render_tls_plan(env: Environment) -> str:
    t = env.tls
    if not t.enabled:
        return "TLS: disabled (ssl = off)\n"
    server = server_for(env)
    where = server.host_path(server.config_dir)
    if where != server.config_dir:
        where += f" (the server's {server.config_dir})"
    ca = (f"brought: {t.ca.cert}" if t.ca else
          f"generated once on the controller in {env.state_dir}/pki")
    # The names every host gets besides its own: server_sans with no host name or address.
    extra = server_sans("", None, env.postgres.listen_addresses, t.server_names)
    return "\n".join([
        f"TLS: required for TCP ({'hostssl only' if t.require else 'optional'}), "
        f"minimum {t.min_protocol}",
        f"CA: {ca}",
        "Server certificate per host, valid "
        f"{t.days} days, renewed {t.renew_before_days} days before expiry, names: the host's "
        "inventory name and address" + (f", {', '.join(extra)}" if extra else ""),
        *[f"  {host}: ready certificate {pair.cert}" for host, pair in t.host_certs.items()],
        f"Installed in {where}: server.crt (0644), server.key (0600), root.crt (0644), "
        "owned by postgres",
        *([f"server.key encrypted at rest; its passphrase in {hardening.passphrase_file(env)} "
           "(0440 root:postgres), read by ssl_passphrase_command"]
          if hardening.key_encrypted(env) else []),
    ]) + "\n"


def render_masked_auth_file(env: Environment) -> str:
    """pgbouncer's auth file with each verifier masked: which users get through, and where
    their passwords come from. The real verifiers use the salt the server stores, which only
    the host knows, and are secrets in their own right (a verifier lets pgbouncer log in)."""
    users = pooled_users(env)
    header = ["; pgbouncer's auth file (postgres:postgres 0600): each user's SCRAM-SHA-256 "
              "verifier exactly as the server stores it (same salt and iterations), "
              "recomputed on the controller; masked in this plan.",
              "; The postgres superuser and auth: cert users are never in it."]
    header += [f"; {u.name}: password {_password(u)}" for u in users]
    return "\n".join(header) + "\n" + render_auth_file({u.name: MASK for u in users})


def _pooler_files(env: Environment) -> list[PlannedFile]:
    paths = pgbouncer_paths(env.name)
    return [
        PlannedFile(f"pgbouncer/{paths.config.rsplit('/', 1)[1]}",
                    pgbouncer_config(env, server_for(env)), paths.config,
                    "pgbouncer's configuration (root:postgres 0640)"),
        PlannedFile(f"pgbouncer/{paths.auth_file.rsplit('/', 1)[1]}",
                    render_masked_auth_file(env), paths.auth_file,
                    "pgbouncer's auth file, verifiers masked"),
    ]


def _exporter_files(env: Environment) -> list[PlannedFile]:
    paths = exporter_paths(env.name)
    files = [PlannedFile(f"exporter/{paths.queries.rsplit('/', 1)[1]}",
                         render_queries(env.monitoring.statements), paths.queries,
                         "the exporter's queries (root:prometheus 0640)")]
    if exposed(env.monitoring.listen_address):
        files.append(PlannedFile(
            f"exporter/{paths.web_config.rsplit('/', 1)[1]}",
            render_web_config(paths, WEB_USER, MASK), paths.web_config,
            "the exporter's TLS and basic auth (the bcrypt hash of its password, generated in "
            "the controller's state as secrets/exporter-web.password, masked; its certificate "
            "and key are the server's, see tls.txt)"))
    return files


def plan_files(env: Environment, *, memory_bytes: int | None = None,
               cpus: int | None = None) -> list[PlannedFile]:
    """Every file the deploy of `env` puts on a host, plus the settings and access listings.

    + memory_bytes, cpus: the host's resources for tuning, when the file leaves them `auto`
    """
    server = server_for(env)
    settings = (PlannedFile("patroni-parameters.txt", render_ha_settings(
                    env, memory_bytes=memory_bytes, cpus=cpus), None,
                    "server parameters as Patroni gets them: cluster-wide and per host")
                if env.ha is not None else
                PlannedFile("postgresql.auto.conf", render_settings(
                    env, memory_bytes=memory_bytes, cpus=cpus), None,
                    "server parameters with their change class"))
    files = [
        settings,
        PlannedFile("pg_hba.conf", pg_hba_for(env), server.host_path(
            f"{server.config_dir}/pg_hba.conf"), "client authentication"),
        PlannedFile("roles-and-grants.txt", render_roles_and_grants(env), None,
                    "login roles (passwords masked), databases and privileges"),
        PlannedFile("tls.txt", render_tls_plan(env), None, "certificates and where they go"),
    ]
    if env.postgres.install == "compose":
        layout = layout_for(env)
        project = render_compose(env)
        files += [
            PlannedFile("compose.yaml", project.compose_yaml, layout.compose_file,
                        "the Compose project"),
            PlannedFile("compose.env", project.dot_env, layout.env_file,
                        "the Compose project's .env"),
        ]
    if env.backups.enabled:
        backup = backup_files(env, server)
        files += [
            PlannedFile(f"cron.d/{backup.cron_path.rsplit('/', 1)[1]}", backup.cron,
                        backup.cron_path, "the backup schedule"),
            PlannedFile(backup.config_path.rsplit("/", 1)[1], backup.config,
                        backup.config_path, "the backup program's config"),
        ]
    if uses_pgbackrest(env):
        stanza = stanza_name(env)
        files.append(PlannedFile(f"pgbackrest/{stanza}.conf",
                                 render_stanza_config(env, default_data_directory(env)),
                                 stanza_config_path(stanza), "the pgBackRest stanza"))
        files.append(PlannedFile("pgbackrest/pgbackrest.conf",
                                 render_main_config(repo_path(env.backups)), MAIN_CONFIG,
                                 "pgBackRest's main config (the repository `pgbackrest info` "
                                 "lists)"))
    if env.pooler.enabled:
        files += _pooler_files(env)
    if env.monitoring.exporter:
        files += _exporter_files(env)
    index = ["# Files pgstead would put on each host of this environment "
             f"({env.name}, from {env.source.name}).", "# plan file -> host path: what"]
    index += [f"{f.path} -> {f.host_path or '(listing)'}: {f.what}" for f in files]
    return [*files, PlannedFile("INDEX.txt", "\n".join(index) + "\n", None, "this index")]
