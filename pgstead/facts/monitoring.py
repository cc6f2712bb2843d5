"""The exporter's role and pg_stat_statements in the postgres database, as the server has them."""

from __future__ import annotations

from dataclasses import dataclass

from pgstead.facts.json_query import JsonQueryFact
from pgstead.postgres.sql import literal, render


@dataclass(frozen=True)
class LiveMonitor:
    exists: bool
    login: bool
    superuser: bool
    password: bool  # a password is stored (it must not be)
    connection_limit: int
    pg_monitor: bool
    statements: bool  # pg_stat_statements created in the database read (postgres)


class MonitorRole(JsonQueryFact):
    """`LiveMonitor` of `role`; None while the server is down."""

    def query(self, role: str) -> str:
        return render("monitor_state", role=literal(role))

    def process(self, output: list[str]) -> LiveMonitor | None:
        data = super().process(output)
        return None if data is None else LiveMonitor(**data)
