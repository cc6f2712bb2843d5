"""Databases: created with their owner; ownership, schemas and privileges follow in grants."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import operation

from pgstead.config.model import Database
from pgstead.facts.access import AccessRead
from pgstead.facts.roles import LiveRoles
from pgstead.operations.plan_notes import plan_note
from pgstead.postgres.sql import ident, render
from pgstead.server.psql import Server, psql_commands


@operation()
def databases(server: Server, databases: list[Database], access: AccessRead):
    """
    Ensure the declared databases exist, each created owned by its declared owner.

    + server: the `Server` to manage
    + databases: the declared databases; their owners must exist already
    + access: the server's roles and databases, read once for the access role's steps

    Only creation happens here, because CREATE DATABASE cannot run inside a transaction; an
    existing database's owner, schemas, extensions and privileges are corrected by
    ``grants.database_access`` in one transaction inside that database. Databases the file
    does not declare are never touched.

    **Example:**

    .. code:: python

        databases.databases(name="Databases", server=server,
                            databases=[Database("app", owner="app_owner")],
                            access=AccessRead(server, users))
    """
    live: LiveRoles | None = access.roles()
    existing = live.databases if live else {}
    missing = [db for db in databases if db.name not in existing]
    if not missing:
        host.noop(f"{server}: {len(databases)} databases exist")
        return
    plan_note(server, *(f"create database {db.name} owned by {db.owner}" for db in missing))
    yield psql_commands(server, [render("db_create", name=ident(db.name), owner=ident(db.owner))
                                 for db in missing])
