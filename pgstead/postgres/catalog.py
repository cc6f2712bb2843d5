"""The server parameters each supported PostgreSQL major knows, with type, unit and context.

The data is a dump of `pg_settings` per major (pgstead/data/settings/pgNN.json, made by
tools/gen_settings_catalog.py), so a file can be checked before any host is touched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

SUPPORTED_MAJORS: tuple[int, ...] = (13, 14, 15, 16, 17)


@dataclass(frozen=True)
class Parameter:
    name: str
    vartype: str  # bool | integer | real | string | enum
    unit: str | None  # as pg_settings.unit: 8kB, kB, MB, B, ms, s, min ... or None
    context: str  # postmaster | sighup | superuser | user | backend | superuser-backend | internal
    enumvals: tuple[str, ...] | None
    min_val: float | None
    max_val: float | None

    @property
    def settable(self) -> bool:
        """False for `internal` parameters: they report build facts and cannot be set."""
        return self.context != "internal"


class ParameterTable(dict[str, Parameter]):
    """Parameters keyed by lower-case name; lookups ignore case, as PostgreSQL does."""

    def __getitem__(self, name: str) -> Parameter:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: Parameter | None = None) -> Parameter | None:
        return super().get(name.lower(), default)


def needs_restart(param: Parameter) -> bool:
    return param.context == "postmaster"


@cache
def parameters(major: int) -> dict[str, Parameter]:
    """Every parameter of `major`, keyed by lower-case name (lookups ignore case).

    The table is shared between callers: treat it as read-only.
    """
    if major not in SUPPORTED_MAJORS:
        supported = ", ".join(str(m) for m in SUPPORTED_MAJORS)
        raise ValueError(f"PostgreSQL {major} is not supported; supported majors: {supported}")
    source = resources.files("pgstead") / "data" / "settings" / f"pg{major}.json"
    doc = json.loads(source.read_text(encoding="utf-8"))
    table = ParameterTable()
    for row in doc["parameters"]:
        enumvals = row["enumvals"]
        table[row["name"].lower()] = Parameter(
            name=row["name"],
            vartype=row["vartype"],
            unit=row["unit"],
            context=row["context"],
            enumvals=tuple(enumvals) if enumvals is not None else None,
            min_val=row["min_val"],
            max_val=row["max_val"],
        )
    return table


def find(major: int, name: str) -> Parameter | None:
    """The parameter called `name` (any case) in `major`, or None if that major lacks it."""
    return parameters(major).get(name)
