"""pgbouncer in front of a server: its files, its daemon, and the package's own instance off."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import operation

from pgstead.config.model import User
from pgstead.facts.roles import PgRoles
from pgstead.operations.daemon import with_files
from pgstead.operations.files import File
from pgstead.operations.roles import candidate_verifier
from pgstead.render.daemon import DaemonSpec
from pgstead.render.pgbouncer import PgbouncerPaths, render_auth_file
from pgstead.server.psql import Server

PGBOUNCER = "/usr/sbin/pgbouncer"
PACKAGE_SERVICE = "pgbouncer"
PACKAGE_PIDFILE = "/var/run/postgresql/pgbouncer.pid"


def server_verifiers(server: Server, users: list[User]) -> dict[str, str]:
    """user -> the verifier the server stores for it, recomputed on the controller from the
    declared password and the stored salt and iteration count (all the roles fact shows).

    It equals the stored verifier once the access role has set the declared password; before
    that (a plan ahead of a rotation) it differs from what the auth file holds, which is how
    the plan knows the file will change. A user the server stores no SCRAM verifier for is
    left out: pgbouncer cannot log it in.
    """
    live = host.get_fact(PgRoles, server=server,
                         wanted=tuple((u.name, u.valid_until) for u in users))
    out: dict[str, str] = {}
    for user in users:
        role = live.roles.get(user.name) if live else None
        if role is None or user.password is None:
            continue
        verifier = candidate_verifier(role.password, user.password.reveal())
        if verifier is not None:
            out[user.name] = verifier
    return out


@operation()
def pgbouncer(spec: DaemonSpec, paths: PgbouncerPaths, config: str, server: Server,
              users: list[User]):
    """
    Ensure pgbouncer runs `spec` with this configuration and the server's SCRAM verifiers.

    + spec: how the daemon runs (``pgbouncer-<env>``; with systemd, its unit
      ``pgstead-pgbouncer-<env>.service``)
    + paths: where its configuration and auth file go
    + config: the rendered pgbouncer.ini
    + server: the server whose roles the auth file mirrors
    + users: the users let through (never the postgres superuser)

    The auth file (postgres, 0600) holds each user's verifier exactly as the server stores it
    (same salt and iterations), so pgbouncer can both check the client's SCRAM proof and log
    in to the server with it; it changes only when a password rotates. Its content travels on
    stdin and is never printed. A changed file reloads pgbouncer (SIGHUP: clients stay
    connected); a changed command line or listen address restarts it. The package's own
    instance (``/etc/pgbouncer/pgbouncer.ini``) is stopped and disabled.

    **Example:**

    .. code:: python

        pooler.pgbouncer(name="pgbouncer", spec=spec, paths=pgbouncer_paths("prod"),
                         config=ini_text, server=server, users=pooled_users(env))
    """
    entries = [File(paths.config, config, "root", "postgres", "640"),
               File(paths.auth_file, render_auth_file(server_verifiers(server, users)),
                    "postgres", "postgres", "600")]
    commands = with_files(spec, entries, (PACKAGE_SERVICE, PACKAGE_PIDFILE, PGBOUNCER))
    if not commands:
        host.noop(f"{spec.name} runs with its configuration and {len(users)} users")
        return
    yield from commands
