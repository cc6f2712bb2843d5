"""Facts about login roles: attributes, whether passwords match, what they own (for a drop)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

from pyinfra.api import StringCommand

from pgstead.facts.json_query import JsonQueryFact
from pgstead.postgres.sql import literal, render
from pgstead.server.psql import Server, when_ready

# psql reading its SQL from stdin and printing one unaligned value.
_STDIN_QUERY_FLAGS = ("-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", "-")


@dataclass(frozen=True)
class StoredPassword:
    """A role's stored verifier, shown only by its salt and iteration count.

    Those reveal nothing about the password; they let the controller recompute the verifier
    a password would have, for `PasswordsMatch` to compare on the server. `iterations` is 0
    for a verifier that is not SCRAM-SHA-256 (md5 or plain text).
    """

    iterations: int
    salt: str  # base64, as stored


@dataclass(frozen=True)
class LiveRole:
    name: str
    superuser: bool
    createrole: bool
    createdb: bool
    replication: bool
    bypassrls: bool
    login: bool
    connection_limit: int
    valid_until_ok: bool  # the stored VALID UNTIL equals the declared one ('infinity' if none)
    password: StoredPassword | None
    owns_databases: tuple[str, ...]
    depends_in: dict[str, int]  # database -> objects owned there (0: only privileges)


@dataclass(frozen=True)
class LiveRoles:
    roles: dict[str, LiveRole]  # only the roles asked about that exist
    databases: dict[str, str]  # every non-template database -> its owner


def role_state_query(wanted: tuple[tuple[str, str | None], ...]) -> str:
    rows = [{"name": name, "valid_until": until} for name, until in wanted]
    return render("role_state", wanted=literal(json.dumps(rows)))


def live_roles(data: dict) -> LiveRoles:
    """`LiveRoles` from role_state.sql's JSON document."""
    roles = {}
    for name, row in data["roles"].items():
        password = row.pop("password")
        roles[name] = LiveRole(
            name=name,
            password=StoredPassword(**password) if password else None,
            owns_databases=tuple(row.pop("owns_databases")),
            **row,
        )
    return LiveRoles(roles, data["databases"])


class PgRoles(JsonQueryFact):
    """The named roles (declared present or absent), with the server's databases; None when down.

    `wanted` pairs each name with its declared VALID UNTIL text (None for none), so the server
    compares timestamps in its own time zone and parser.
    """

    def query(self, wanted: tuple[tuple[str, str | None], ...] = ()) -> str:
        return role_state_query(wanted)

    def process(self, output: list[str]) -> LiveRoles | None:
        data = super().process(output)
        return None if data is None else live_roles(data)


class OwnedObjects(JsonQueryFact):
    """Names of what `role` owns in the database the fact runs in; asked to explain a refusal."""

    def query(self, role: str) -> str:
        return render("role_owned_objects", role=literal(role))


class SecretStdin(io.StringIO):
    """Text for a command's stdin that prints as a placeholder.

    pyinfra prints a fact's keyword arguments, `_stdin` included, with `-v`; its connectors
    read a stdin that has `readlines` as a file, so the text still arrives whole.
    """

    def __repr__(self) -> str:
        return "<secret stdin>"

    __str__ = __repr__


def password_check_script(candidates: dict[str, str]) -> SecretStdin:
    """The stdin of `PasswordsMatch`: role name -> the verifier its declared password gives."""
    rows = [{"name": name, "candidate": verifier} for name, verifier in candidates.items()]
    return SecretStdin("\n".join([
        render("session_unlogged"),
        render("role_password_check", candidates=literal(json.dumps(rows)))]))


class PasswordsMatch(JsonQueryFact):
    """Whether each role stores exactly its candidate verifier: name -> bool; None when down.

    The candidates are secrets, so the SQL comes on stdin: call it as
    ``host.get_fact(PasswordsMatch, server=server, _stdin=password_check_script(...))``.
    The stdin prints as a placeholder where pyinfra lists fact arguments (`-v`), never
    reaches a command line, and the session logs none of its statements.
    """

    def command(self, server: Server) -> StringCommand:
        return when_ready(server, StringCommand(*server.tool("psql"), *_STDIN_QUERY_FLAGS))


class RoleConnectionLimit(JsonQueryFact):
    """One role's rolconnlimit (-1: none); None while the server is down or without the role."""

    def query(self, role: str) -> str:
        return render("role_connection_limit_state", name=literal(role))
