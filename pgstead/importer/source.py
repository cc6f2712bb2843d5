"""The SQLite side: its tables, columns, keys, foreign keys and indexes, and its rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

# Tables the migration tools keep for themselves: the app's migrations already filled their
# PostgreSQL twins, so their SQLite rows are left out unless asked for by name.
BOOKKEEPING_TABLES = frozenset({
    "alembic_version", "django_migrations", "_prisma_migrations", "schema_migrations",
    "goose_db_version", "__drizzle_migrations", "knex_migrations", "knex_migrations_lock",
    "ar_internal_metadata", "flyway_schema_history", "seaql_migrations",
})


@dataclass(frozen=True)
class SourceColumn:
    name: str
    declared: str  # the declared type text, '' when none (SQLite allows that)
    not_null: bool
    default: str | None
    pk_position: int  # 0: not in the primary key; else 1-based position


@dataclass(frozen=True)
class SourceForeignKey:
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]  # empty: the referenced table's primary key
    on_delete: str
    on_update: str


@dataclass(frozen=True)
class SourceIndex:
    name: str
    columns: tuple[str, ...]
    unique: bool


@dataclass(frozen=True)
class SourceTable:
    name: str
    columns: tuple[SourceColumn, ...]
    foreign_keys: tuple[SourceForeignKey, ...]
    indexes: tuple[SourceIndex, ...]
    autoincrement: bool  # declared AUTOINCREMENT: ids are never reused
    sequence_value: int | None  # sqlite_sequence's high-water mark for it, if any

    @property
    def primary_key(self) -> tuple[str, ...]:
        keyed = sorted((c.pk_position, c.name) for c in self.columns if c.pk_position)
        return tuple(name for _, name in keyed)


def quote_sqlite(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_tables(db: sqlite3.Connection) -> dict[str, SourceTable]:
    """Every user table of the SQLite database, by name (views and sqlite_* left out)."""
    listed = db.execute(
        "SELECT name, coalesce(sql, '') FROM sqlite_master WHERE type = 'table' "
        "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").fetchall()
    sequences = {}
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
        sequences = dict(db.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
    return {name: _table(db, name, ddl, sequences.get(name)) for name, ddl in listed}


def _table(db: sqlite3.Connection, name: str, ddl: str, sequence: int | None) -> SourceTable:
    quoted = quote_sqlite(name)
    columns = tuple(SourceColumn(row[1], row[2] or "", bool(row[3]), row[4], row[5])
                    for row in db.execute(f"PRAGMA table_info({quoted})"))
    grouped: dict[int, list[tuple]] = {}
    for row in db.execute(f"PRAGMA foreign_key_list({quoted})"):
        grouped.setdefault(row[0], []).append(row)
    foreign_keys = tuple(
        SourceForeignKey(tuple(r[3] for r in rows), rows[0][2],
                         tuple(r[4] for r in rows if r[4] is not None), rows[0][6], rows[0][5])
        for _, rows in sorted(grouped.items()))
    indexes = []
    for row in db.execute(f"PRAGMA index_list({quoted})"):
        index_name, unique, origin = row[1], bool(row[2]), row[3]
        if origin == "pk":
            continue
        cols = tuple(r[2] for r in db.execute(f"PRAGMA index_info({quote_sqlite(index_name)})"))
        if cols and all(c is not None for c in cols):  # expression indexes are left out
            indexes.append(SourceIndex(index_name, cols, unique))
    return SourceTable(name, columns, foreign_keys, tuple(indexes),
                       "AUTOINCREMENT" in ddl.upper(), sequence)


def time_profile(db: sqlite3.Connection, table: str,
                 column: str) -> tuple[float | None, int, int]:
    """(largest absolute number, how many numbers, how many texts) stored in the column: what
    picks seconds or milliseconds for an epoch column, and what the report says was seen."""
    c = quote_sqlite(column)
    # SQLite orders numbers before any text and texts before any blob: two comparisons a
    # value (in the binary collation, whatever the column's) cost a third of typeof()'s.
    numbers, texts = (f"{c} < '' COLLATE BINARY",
                      f"{c} >= '' COLLATE BINARY AND {c} < x''")
    row = db.execute(
        f"SELECT max(abs({c})) FILTER (WHERE {numbers}), count(*) FILTER (WHERE {numbers}), "
        f"count(*) FILTER (WHERE {texts}) FROM {quote_sqlite(table)}").fetchone()
    return row[0], row[1], row[2]


def count_rows(db: sqlite3.Connection, table: str) -> int:
    return db.execute(f"SELECT count(*) FROM {quote_sqlite(table)}").fetchone()[0]


def rows(db: sqlite3.Connection, table: str, expressions: Sequence[str],
         batch: int = 5000, rowids: RowidRange | None = None) -> Iterator[list[tuple]]:
    """The table's rows as `expressions` (SQL over its columns) give them, in batches
    (memory flat in the table size); only those whose rowid is in `rowids` when given."""
    query = f"SELECT {', '.join(expressions)} FROM {quote_sqlite(table)}"
    if rowids is None:
        cursor = db.execute(query)
    else:
        column, first, last = rowids
        cursor = db.execute(f"{query} WHERE {column} BETWEEN ? AND ? ORDER BY {column}",
                            (first, last))
    while chunk := cursor.fetchmany(batch):
        yield chunk


# (rowid's name for the table, first, last): a part of a table, in rowid order.
RowidRange = tuple[str, int, int]


def rowid_ranges(db: sqlite3.Connection, table: str, column: str, rows: int,
                 per_range: int) -> list[RowidRange]:
    """Consecutive rowid ranges covering the table, of about `per_range` rows each when the
    rowids are dense (a range of a sparse table may hold more: it is still read in
    batches)."""
    low, high = db.execute(f"SELECT min({column}), max({column}) FROM "
                           f"{quote_sqlite(table)}").fetchone()
    if low is None:
        return []
    width = max(1, -(-(high - low + 1) * per_range // max(rows, 1)))
    return [(column, first, min(first + width - 1, high))
            for first in range(low, high + 1, width)]


def rowid_name(db: sqlite3.Connection, table: str, columns: Sequence[str]) -> str | None:
    """A name for the table's rowid that no column shadows; None for a WITHOUT ROWID table
    (or one with columns named rowid, _rowid_ and oid)."""
    taken = {c.lower() for c in columns}
    for name in ("rowid", "_rowid_", "oid"):
        if name not in taken:
            try:
                db.execute(f"SELECT {name} FROM {quote_sqlite(table)} LIMIT 0")
            except sqlite3.OperationalError:
                return None
            return name
    return None


def row_at(db: sqlite3.Connection, table: str, columns: Sequence[str], rowid_column: str,
           rowid: int) -> tuple:
    return db.execute(f"SELECT {', '.join(map(quote_sqlite, columns))} FROM "
                      f"{quote_sqlite(table)} WHERE {rowid_column} = ?", (rowid,)).fetchone()
