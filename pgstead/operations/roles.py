"""Login roles: attributes, limits and SCRAM passwords, created, corrected or dropped safely."""

from __future__ import annotations

import base64

from psycopg import sql
from pyinfra import host, logger
from pyinfra.api import QuoteString, StringCommand, operation

from pgstead.config.model import User
from pgstead.facts.access import AccessRead
from pgstead.facts.roles import (
    LiveRole,
    LiveRoles,
    OwnedObjects,
    PasswordsMatch,
    PgRoles,
    RoleConnectionLimit,
    StoredPassword,
    password_check_script,
)
from pgstead.operations.plan_notes import plan_note
from pgstead.postgres import scram
from pgstead.postgres.sql import ident, literal, render
from pgstead.server.psql import Server, psql_script

# Role attributes pgstead owns on every declared user: each is on only if the file lists it.
# SUPERUSER is never listed by a valid file, so it is always removed.
ATTRIBUTES = ("superuser", "createrole", "createdb", "replication", "bypassrls")
_KEYWORDS = {
    "superuser": "SUPERUSER", "createrole": "CREATEROLE", "createdb": "CREATEDB",
    "replication": "REPLICATION", "bypassrls": "BYPASSRLS", "login": "LOGIN",
}


def _flag(attribute: str, on: bool) -> sql.Composable:
    keyword = _KEYWORDS[attribute]
    return sql.SQL(keyword if on else f"NO{keyword}")


def candidate_verifier(stored: StoredPassword | None, password: str) -> str | None:
    """The verifier `password` gives with the stored salt and iteration count, or None when
    no stored verifier could match (none stored, or not SCRAM-SHA-256)."""
    if stored is None or stored.iterations <= 0:
        return None
    try:
        salt = base64.b64decode(stored.salt, validate=True)
    except ValueError:
        return None
    return str(scram.compute(password, salt=salt, iterations=stored.iterations))


def _passwords_to_set(server: Server, users: list[User], live: LiveRoles | None) -> set[str]:
    """Names of the existing users whose stored password is not their declared one.

    Candidate verifiers are compared on the server (`PasswordsMatch`, over stdin), so neither
    a verifier nor any digest of one reaches pyinfra's output at any verbosity.
    """
    differs: set[str] = set()
    candidates: dict[str, str] = {}
    for user in users:
        current = live.roles.get(user.name) if live else None
        if current is None:
            continue  # created with its password
        if user.password is None:
            if current.password is not None:
                differs.add(user.name)
            continue
        candidate = candidate_verifier(current.password, user.password.reveal())
        if candidate is None:
            differs.add(user.name)
        else:
            candidates[user.name] = candidate
    if candidates:
        matches = host.get_fact(PasswordsMatch, server=server,
                                _stdin=password_check_script(candidates)) or {}
        differs |= {name for name in candidates if not matches.get(name)}
    return differs


def _password_clause(user: User) -> sql.Composable:
    # The verifier is made here, inside the operation body, and only ever reaches psql's stdin.
    if user.password is None:
        return sql.SQL("PASSWORD NULL")
    return sql.SQL("PASSWORD {}").format(literal(scram.scram_verifier(user.password.reveal())))


def _until(user: User) -> sql.Composable:
    return sql.SQL("VALID UNTIL {}").format(literal(user.valid_until or "infinity"))


def role_changes(user: User, live: LiveRole | None,
                 password_differs: bool) -> tuple[list[str], list[sql.Composable]]:
    """(what differs, in words without values; the option clauses that fix it) for one user."""
    if live is None:
        options = [_flag("login", True)]
        options += [_flag(a, a in user.attributes) for a in ATTRIBUTES]
        options += [sql.SQL("CONNECTION LIMIT {}").format(literal(user.connection_limit)),
                    _until(user), _password_clause(user)]
        return ["created"], options
    what: list[str] = []
    options: list[sql.Composable] = []
    if not live.login:
        what.append("login")
        options.append(_flag("login", True))
    for attribute in ATTRIBUTES:
        wanted = attribute in user.attributes
        if getattr(live, attribute) != wanted:
            what.append(attribute if wanted else f"no{attribute}")
            options.append(_flag(attribute, wanted))
    if live.connection_limit != user.connection_limit:
        what.append(f"connection limit {live.connection_limit} -> {user.connection_limit}")
        options.append(sql.SQL("CONNECTION LIMIT {}").format(literal(user.connection_limit)))
    if not live.valid_until_ok:
        what.append(f"valid until {user.valid_until or 'infinity'}")
        options.append(_until(user))
    if password_differs:
        what.append("password" if user.password is not None else "password removed")
        options.append(_password_clause(user))
    return what, options


@operation()
def users(server: Server, users: list[User], access: AccessRead):
    """
    Ensure the declared login roles exist with exactly the declared attributes and password.

    + server: the `Server` to manage
    + users: the declared users with ``state: present``
    + access: the server's roles as read for these users (shared with the databases and
      pg_hba steps, so read once)

    Each user gets LOGIN; SUPERUSER, CREATEROLE, CREATEDB, REPLICATION and BYPASSRLS only when
    its ``attributes`` list them, and they are removed otherwise. ``connection_limit`` and
    ``valid_until`` are set, and reset (-1, 'infinity') when not declared.

    Passwords are sent as SCRAM-SHA-256 verifiers made on the controller, on psql's stdin,
    in a session that logs none of its statements. A stored verifier is checked by recomputing
    it with its own salt and iteration count (all the roles fact shows of it) and letting the
    server compare, over stdin, answering only true or false; so an unchanged password is
    never rewritten, and nothing derived from a password is printed at any verbosity. A user
    without a password (``auth: cert``) has any stored password removed. All changes go in
    one transaction.

    **Example:**

    .. code:: python

        server = Server(15, "main", 5432)
        roles.users(name="Login roles", server=server, users=env.users,
                    access=AccessRead(server, env.users))
    """
    live: LiveRoles | None = access.roles()
    to_set = _passwords_to_set(server, users, live)
    statements: list[str] = []
    for user in users:
        current = live.roles.get(user.name) if live else None
        what, options = role_changes(user, current, user.name in to_set)
        if not options:
            continue
        template = "role_create" if current is None else "role_alter"
        statements.append(render(template, name=ident(user.name),
                                 options=sql.SQL(" ").join(options)))
        plan_note(server, f"role {user.name}: {', '.join(what)}")
    if not statements:
        host.noop(f"{server}: {len(users)} roles already as declared")
        return
    script = "\n".join([render("session_unlogged"), *statements])
    yield psql_script(server, script)


def _refusals(name: str, live: LiveRole, db_owners: dict[str, str],
              declared_dbs: set[str]) -> list[tuple[str | None, str]]:
    """Why dropping `name` would lose something: (database to explain, reason) pairs."""
    problems: list[tuple[str | None, str]] = []
    for database in live.owns_databases:
        if database not in declared_dbs:
            problems.append((None, f"owns database {database!r}, which the file does not "
                                   "declare (declare it with another owner, or change its owner)"))
    for database, owned in live.depends_in.items():
        if owned and (database not in declared_dbs or db_owners.get(database) == name):
            problems.append((database, f"owns {owned} object(s) in database {database!r}, "
                                       "which has no declared owner to hand them to"))
    return problems


def _explain(server: Server, name: str, problems: list[tuple[str | None, str]]) -> str:
    lines = []
    for database, reason in problems:
        line = f"role {name} {reason}"
        if database is not None:
            objects = host.get_fact(OwnedObjects, server=server, database=database, role=name)
            if objects:
                line += ": " + ", ".join(objects)
        lines.append(line)
    return "; ".join(lines)


def _fail(message: str) -> StringCommand:
    return StringCommand("echo", QuoteString(f"pgstead: {message}"), ">&2;", "exit", "1")


def _drop_script(names: list[str], owner: str | None) -> str:
    statements = []
    for name in names:
        if owner is not None:
            statements.append(render("role_reassign_owned", name=ident(name),
                                     new_owner=ident(owner)))
        statements.append(render("role_drop_owned", name=ident(name)))
    return "\n".join(statements)


@operation()
def absent(server: Server, names: list[str], database_owners: dict[str, str]):
    """
    Ensure roles are gone, without losing anything they own.

    + server: the `Server` to manage
    + names: roles declared ``state: absent``
    + database_owners: each declared database and its declared owner

    In every database where a role still owns objects or holds privileges, what it owns is
    handed to that database's declared owner (REASSIGN OWNED), then its privileges and
    default-privilege entries are removed (DROP OWNED), then the role is dropped. Databases
    the role owns that the file declares get their declared owner from the databases step
    before this one runs.

    Dropping is refused, and the operation fails naming the objects, when it would lose data:
    the role owns a database the file does not declare, or owns objects (tables, sequences,
    types, functions, schemas...) in a database that has no declared owner to receive them
    (an undeclared database such as ``postgres``, or a database whose declared owner is the
    role itself). Privileges alone are never a reason to refuse: revoking them loses nothing.

    **Example:**

    .. code:: python

        roles.absent(name="Dropped roles", server=server, names=["legacy_app"],
                     database_owners={"app": "app_owner"})
    """
    live: LiveRoles | None = host.get_fact(PgRoles, server=server,
                                           wanted=tuple((n, None) for n in names))
    present = [live.roles[n] for n in names if live and n in live.roles]
    if not present:
        host.noop(f"{server}: {len(names)} absent roles already gone")
        return
    declared = set(database_owners)
    refused = {role.name: _refusals(role.name, role, database_owners, declared)
               for role in present}
    refused = {name: problems for name, problems in refused.items() if problems}
    if refused:
        message = " | ".join(_explain(server, n, p) for n, p in refused.items())
        logger.warning(f"{host.name}: {server}: refusing to drop: {message}")
        yield _fail(f"refusing to drop roles: {message}")
        return
    names_here = [role.name for role in present]
    databases = sorted({db for role in present for db in role.depends_in} - {"postgres"})
    for database in databases:
        droppers = [r.name for r in present if database in r.depends_in]
        yield psql_script(server, _drop_script(droppers, database_owners.get(database)),
                          database=database)
    # DROP OWNED in postgres also revokes privileges on shared objects (databases), wherever
    # they were granted; anything owned in postgres itself was refused above unless declared.
    final = _drop_script(names_here, database_owners.get("postgres"))
    final += "\n" + "\n".join(render("role_drop", name=ident(n)) for n in names_here)
    plan_note(server, f"dropping roles {', '.join(names_here)}")
    yield psql_script(server, final)


@operation()
def connection_limit(server: Server, role: str, limit: int):
    """
    Ensure a role that pgstead does not declare (the postgres superuser) has a connection limit.

    + server: the `Server` to manage
    + role: the existing role
    + limit: its CONNECTION LIMIT

    **Example:**

    .. code:: python

        roles.connection_limit(name="Connection limit of postgres", server=server,
                               role="postgres", limit=10)
    """
    live = host.get_fact(RoleConnectionLimit, server=server, role=role)
    if live == limit:
        host.noop(f"{server}: {role} has connection limit {limit}")
        return
    plan_note(server, f"{role}: connection limit {'none' if live is None else live} -> {limit}")
    yield psql_script(server, render("role_connection_limit", name=ident(role),
                                     limit=literal(limit)))
