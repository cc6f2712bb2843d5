"""Facts about server parameters."""

from __future__ import annotations

from dataclasses import dataclass

from pgstead.facts.json_query import JsonQueryFact
from pgstead.postgres.sql import literal, render


@dataclass(frozen=True)
class LiveSetting:
    name: str
    setting: str  # the running value, in the parameter's unit
    unit: str | None
    vartype: str
    context: str
    pending_restart: bool
    auto_conf: str | None  # the value written by ALTER SYSTEM, if any


@dataclass(frozen=True)
class LiveSettings:
    data_directory: str
    started: str  # postmaster start time: a restart changes it
    rows: dict[str, LiveSetting]


class PgSettings(JsonQueryFact):
    """The named parameters plus every one set in postgresql.auto.conf, or None when down."""

    def query(self, names: tuple[str, ...] = ()) -> str:
        return render("settings_live", names=literal(list(names)))

    def process(self, output: list[str]) -> LiveSettings | None:
        data = super().process(output)
        if data is None:
            return None
        rows = {row["name"]: LiveSetting(**row) for row in data["rows"]}
        return LiveSettings(data["data_directory"], data["started"], rows)
