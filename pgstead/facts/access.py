"""The access state that the access role's operations share: roles, databases, pg_hba.conf.

pyinfra re-runs a fact for every operation that asks; the users, databases and pg_hba
operations read the same server, and none of them changes what the others read from it (the
users step changes no database, the databases step no role, neither pg_hba.conf). So one
psql run answers all three, once per plan and once per apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from psycopg import sql
from pyinfra import host

from pgstead.config.model import User
from pgstead.facts.json_query import JsonQueryFact
from pgstead.facts.roles import LiveRoles, live_roles, role_state_query
from pgstead.postgres.sql import render
from pgstead.server.psql import Server


@dataclass(frozen=True)
class LiveHba:
    path: str  # SHOW hba_file, as the server sees it
    sha256: str


@dataclass(frozen=True)
class LiveAccess:
    roles: LiveRoles
    hba: LiveHba


class PgAccess(JsonQueryFact):
    """`PgRoles` and the pg_hba.conf path and digest in one query; None while the server is down.

    `wanted` is as for `PgRoles`: each declared role with its VALID UNTIL text.
    """

    def query(self, wanted: tuple[tuple[str, str | None], ...] = ()) -> str:
        return render("access_state", roles=sql.SQL(role_state_query(wanted)),
                      hba=sql.SQL(render("hba_state")))

    def process(self, output: list[str]) -> LiveAccess | None:
        data = super().process(output)
        if data is None:
            return None
        return LiveAccess(live_roles(data["roles"]), LiveHba(**data["hba"]))


@dataclass
class AccessRead:
    """`PgAccess` of one server, read by the first operation that asks and reused by the others.

    A plan and the apply after it read apart: the roles before the access role (cluster,
    settings) change the server in between. Only for operations that change nothing the
    others read from it.
    """

    server: Server
    users: list[User]
    _reads: dict[tuple[str, object], LiveAccess | None] = field(default_factory=dict, repr=False)

    def get(self) -> LiveAccess | None:
        key = (host.name, host.state.current_stage)
        if key not in self._reads:
            wanted = tuple((u.name, u.valid_until) for u in self.users)
            self._reads[key] = host.get_fact(PgAccess, server=self.server, wanted=wanted)
        return self._reads[key]

    def roles(self) -> LiveRoles | None:
        live = self.get()
        return live.roles if live else None

    def hba(self) -> LiveHba | None:
        live = self.get()
        return live.hba if live else None
