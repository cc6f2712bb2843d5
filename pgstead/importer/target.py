"""The PostgreSQL side: the target's tables, columns and keys, read from the catalog."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pgstead import PROJECT_ROOT

if TYPE_CHECKING:  # the converting workers import this module; psycopg was half their start
    import psycopg

_SQL = PROJECT_ROOT / "sql"


@dataclass(frozen=True)
class TargetColumn:
    name: str
    declared: str  # format_type(): 'character varying(40)', 'timestamp with time zone', ...
    base_type: str  # pg_type.typname after domains: 'varchar', 'timestamptz', ...
    type_kind: str  # pg_type.typtype: b base, e enum, ...
    typmod: int  # -1 when none
    not_null: bool
    identity: str  # '' | 'a' (always) | 'd' (by default)
    generated: bool  # GENERATED ALWAYS AS (...) STORED: never written
    has_default: bool
    sequence: str | None  # the serial or identity sequence, qualified and quoted


@dataclass(frozen=True)
class TargetConstraint:
    name: str
    kind: str  # p | u | f
    deferrable: bool
    columns: tuple[str, ...]
    ref: tuple[str, str] | None  # (schema, table) a foreign key points at
    definition: str
    ref_columns: tuple[str, ...] = ()  # the columns a foreign key points at


@dataclass
class TargetTable:
    schema: str
    name: str
    columns: list[TargetColumn] = field(default_factory=list)
    constraints: list[TargetConstraint] = field(default_factory=list)

    @property
    def qualified(self) -> tuple[str, str]:
        return (self.schema, self.name)

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.name}"

    def key(self) -> tuple[str, ...]:
        """The primary key, else the first unique constraint, else nothing."""
        for kind in ("p", "u"):
            for constraint in self.constraints:
                if constraint.kind == kind:
                    return constraint.columns
        return ()

    def foreign_keys(self) -> list[TargetConstraint]:
        return [c for c in self.constraints if c.kind == "f"]


def read_tables(conn: psycopg.Connection) -> dict[tuple[str, str], TargetTable]:
    """Every table of the database's own schemas, keyed by (schema, table)."""
    tables: dict[tuple[str, str], TargetTable] = {}
    for row in conn.execute((_SQL / "import_target_columns.sql").read_text()):
        schema, table, *rest = row
        entry = tables.setdefault((schema, table), TargetTable(schema, table))
        (name, declared, base, kind, typmod, not_null, identity, generated, has_default,
         sequence) = rest
        entry.columns.append(TargetColumn(name, declared, base, kind, typmod, not_null,
                                          identity, generated == "s", has_default, sequence))
    for row in conn.execute((_SQL / "import_target_constraints.sql").read_text()):
        (schema, table, name, kind, deferrable, columns, ref_schema, ref_table, definition,
         ref_columns) = row
        if (schema, table) in tables:
            ref = (ref_schema, ref_table) if ref_table else None
            tables[(schema, table)].constraints.append(
                TargetConstraint(name, kind, deferrable, tuple(columns), ref, definition,
                                 tuple(ref_columns)))
    return tables
