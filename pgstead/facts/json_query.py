"""A fact whose answer is one JSON document printed by psql (null while the server is down)."""

from __future__ import annotations

import json
from typing import Any

from pyinfra.api import FactBase, StringCommand

from pgstead.server.psql import Server, psql_query, when_ready


class JsonQueryFact(FactBase):
    """Base for facts that run one query over the local socket and parse its JSON output.

    The server being unreachable (not installed, not created, stopped) yields the default
    `None`, so plans on fresh hosts work; the operation then treats everything as missing.
    """

    @staticmethod
    def default() -> None:
        return None

    def query(self, **kwargs: Any) -> str:  # pragma: no cover - subclasses define it
        raise NotImplementedError

    def command(self, server: Server, database: str = "postgres",
                **query_args: Any) -> StringCommand:
        # pyinfra binds fact arguments with inspect.getcallargs, which packs a catch-all
        # parameter under its own name.
        query_args = query_args.pop("query_args", query_args)
        return when_ready(server, psql_query(server, self.query(**query_args), database=database))

    def process(self, output: list[str]) -> Any:
        return json.loads("".join(output))
