"""Which target table and column each SQLite table and column lands in.

Names match exactly first, then ignoring case when that is unambiguous; anything else is an
error naming the table and column, since guessing would put data in the wrong place.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from pgstead.importer.convert import TIME_TYPES, ColumnConversion, UnsupportedType, plan_conversion
from pgstead.importer.errors import ImportRefused
from pgstead.importer.source import SourceTable, time_profile
from pgstead.importer.target import TargetColumn, TargetTable


@dataclass(frozen=True)
class ColumnPlan:
    source: str
    target: TargetColumn
    conversion: ColumnConversion
    time_stats: tuple | None = None  # what chose a time column's conversion (time_profile)


@dataclass(frozen=True)
class TablePlan:
    source: SourceTable
    target: TargetTable
    columns: tuple[ColumnPlan, ...]
    left_to_defaults: tuple[str, ...]  # target columns with no source column

    @property
    def label(self) -> str:
        return self.target.label

    def key_indexes(self) -> tuple[int, ...]:
        """Positions (in `columns`) of the target's key, when every key column is loaded."""
        names = [c.target.name for c in self.columns]
        key = self.target.key()
        return tuple(names.index(k) for k in key) if key and set(key) <= set(names) else ()


def _unique(candidates: list, what: str, name: str, where: str):
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        names = sorted(getattr(c, "label", None) or c.name for c in candidates)
        raise ImportRefused(f"{what} {name!r} {where} matches more than one by case: "
                            f"{', '.join(names)}")
    return None


def match_table(source: str, targets: dict[tuple[str, str], TargetTable],
                schema: str | None) -> TargetTable:
    pool = [t for t in targets.values() if schema is None or t.schema == schema]
    exact = [t for t in pool if t.name == source]
    if len(exact) > 1:
        raise ImportRefused(
            f"table {source!r} exists in several schemas ({', '.join(t.schema for t in exact)}); "
            "say which with --schema")
    found = exact[0] if exact else _unique(
        [t for t in pool if t.name.lower() == source.lower()], "table", source,
        "of the SQLite file")
    if found is None:
        where = f"schema {schema!r}" if schema else "the target database"
        raise ImportRefused(f"table {source!r} has no table in {where} (run the app's "
                            "migrations first, or use --create-schema)")
    return found


def plan_table(db: sqlite3.Connection, source: SourceTable, target: TargetTable,
               time_stats: dict[str, tuple | None] | None = None) -> TablePlan:
    """How each source column lands in `target`; `time_stats` (by source column), when
    given, stand for time_profile's scans (a worker re-making a plan made here)."""
    writable = [c for c in target.columns if not c.generated]
    plans, used = [], set()
    for column in source.columns:
        exact = [c for c in writable if c.name == column.name]
        found = exact[0] if exact else _unique(
            [c for c in writable if c.name.lower() == column.name.lower()], "column",
            column.name, f"of table {source.name!r}")
        if found is None:
            generated = [c.name for c in target.columns if c.generated
                         and c.name.lower() == column.name.lower()]
            why = (f"{generated[0]!r} is a generated column there" if generated else
                   f"its columns are {', '.join(c.name for c in target.columns)}")
            raise ImportRefused(f"table {source.name!r}: column {column.name!r} has no "
                                f"column in {target.label} ({why})")
        if found.name in used:
            raise ImportRefused(f"table {source.name!r}: two columns land in "
                                f"{target.label}.{found.name}")
        used.add(found.name)
        stats = (None if found.base_type not in TIME_TYPES
                 else time_stats[column.name] if time_stats is not None
                 else time_profile(db, source.name, column.name))
        try:
            conversion = plan_conversion(found, column.declared, stats)
        except UnsupportedType as error:
            raise ImportRefused(f"{target.label}.{found.name}: {error}") from None
        plans.append(ColumnPlan(column.name, found, conversion, stats))
    rest = tuple(c.name for c in writable if c.name not in used)
    return TablePlan(source, target, tuple(plans), rest)
