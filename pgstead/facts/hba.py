"""Facts about pg_hba.conf: its path as the server reads it and a digest of its content."""

from __future__ import annotations

from dataclasses import dataclass

from pgstead.facts.json_query import JsonQueryFact
from pgstead.sqlfiles import render


@dataclass(frozen=True)
class LiveHba:
    path: str
    sha256: str


class PgHbaFile(JsonQueryFact):
    """`SHOW hba_file` and the sha256 of that file, or None while the server is down."""

    def query(self) -> str:
        return render("hba_state")

    def process(self, output: list[str]) -> LiveHba | None:
        data = super().process(output)
        return LiveHba(data["path"], data["sha256"]) if data else None
