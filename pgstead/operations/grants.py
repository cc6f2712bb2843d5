"""One database's ownership, schemas, extensions and privileges, made to match the file."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import operation

from pgstead.config.model import Database, User
from pgstead.desired.grants import (
    PUBLIC_SCHEMA,
    managed_schemas,
    plan_database,
    plan_template_public,
)
from pgstead.facts.databases import PgDatabaseAccess
from pgstead.live.databases import LiveDatabase
from pgstead.operations.plan_notes import plan_note
from pgstead.server.psql import Server, psql_script


@operation()
def database_access(server: Server, database: Database, users: list[User],
                    lock_public: bool = False):
    """
    Ensure one database's owner, schemas, extensions and privileges follow the access model.

    + server: the `Server` to manage
    + database: the declared database (it exists once ``databases.databases`` ran)
    + users: every declared user; those of other databases lose what they hold here
    + lock_public: PUBLIC may not even use schema public; the database's declared users may

    The model (see ``pgstead.desired.grants``): the owner owns the database and its schemas;
    readwrite users get DML on tables and sequences of their schemas, readonly users SELECT,
    both also on tables the owner creates later (default privileges); only declared users
    may CONNECT; PUBLIC may not create in public. Extensions are installed in public.

    The live state is read with ONE query and only the difference is applied, in ONE psql
    script in one transaction; excess privileges of declared users are revoked.

    **Example:**

    .. code:: python

        grants.database_access(name="Access to app", server=server,
                               database=env.database("app"), users=list(env.users))
    """
    live: LiveDatabase | None = host.get_fact(PgDatabaseAccess, server=server,
                                              database=database.name,
                                              schemas=managed_schemas(database))
    present = [u.name for u in users if u.state == "present"]
    statements = plan_database(database, users, present, live, lock_public=lock_public)
    if not statements:
        host.noop(f"{server}: database {database.name} access as declared")
        return
    plan_note(server, *(f"{database.name}: {s.summary}" for s in statements))
    yield psql_script(server, "\n".join(s.sql for s in statements), database=database.name)


@operation()
def template_public(server: Server, template: str = "template1"):
    """
    Ensure PUBLIC holds nothing on schema public in a template database, so that a database
    created from it (CREATE DATABASE copies template1) starts with public locked.

    + server: the `Server` to manage
    + template: the template database

    **Example:**

    .. code:: python

        grants.template_public(name="Schema public in template1", server=server)
    """
    live: LiveDatabase | None = host.get_fact(PgDatabaseAccess, server=server,
                                              database=template, schemas=(PUBLIC_SCHEMA,))
    statements = plan_template_public(live)
    if not statements:
        host.noop(f"{server}: PUBLIC holds nothing on schema public in {template}")
        return
    plan_note(server, *(f"{template}: {s.summary}" for s in statements))
    yield psql_script(server, "\n".join(s.sql for s in statements), database=template)
