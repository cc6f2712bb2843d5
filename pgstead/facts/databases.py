"""Facts about one database's access state: owner, schemas, extensions, privileges."""

from __future__ import annotations

from pyinfra.api import StringCommand

from pgstead.facts.json_query import JsonQueryFact
from pgstead.live.databases import (
    Acl,
    LiveDatabase,
    LiveDefaultAcl,
    LiveRelation,
    LiveSchema,
)
from pgstead.postgres.sql import literal, render
from pgstead.server.psql import Server, psql_query, when_ready


def _acl(pairs: list[list[str]]) -> Acl:
    return frozenset((grantee, privilege) for grantee, privilege in pairs)


class PgDatabaseAccess(JsonQueryFact):
    """One database's access state over the managed `schemas`, in ONE query; None if the
    database (or the server) is not there yet."""

    def command(self, server: Server, database: str = "postgres",
                schemas: tuple[str, ...] = ()) -> StringCommand:
        exists = psql_query(server, render("db_exists", name=literal(database)))
        state = psql_query(server, render("db_state", schemas=literal(list(schemas))),
                           database=database)
        return when_ready(server, StringCommand(
            "if", "[", "\"$(", exists, ")\"", "=", "1", "];", "then", state, ";",
            "else", "echo", "null;", "fi"))

    def process(self, output: list[str]) -> LiveDatabase | None:
        data = super().process(output)
        if data is None:
            return None
        return LiveDatabase(
            owner=data["owner"],
            acl=_acl(data["acl"]),
            schemas={s["name"]: LiveSchema(s["name"], s["owner"], _acl(s["acl"]))
                     for s in data["schemas"]},
            extensions=dict(data["extensions"]),
            relations=tuple(LiveRelation(r["schema"], r["name"], r["kind"], _acl(r["acl"]))
                            for r in data["relations"]),
            default_acls=tuple(LiveDefaultAcl(a["owner"], a["schema"], a["kind"], _acl(a["acl"]))
                               for a in data["default_acls"]),
        )
