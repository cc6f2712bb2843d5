"""An order-independent checksum of a table's rows, the same on both sides of the import.

A row's text is its COPY text line: each value in PostgreSQL's output form, COPY-escaped,
NULL as \\N, tab-separated (convert.py). On the source side that is exactly the line the
import writes; on the target side the server renders each stored row into the same text
with SQL (`row_text`), so a value a trigger, rule or default changed, a row it dropped or
added, or a conversion the server made differently, gives a different text.

The server sums both sides, so no row travels back: each batch written to the target is
also sent whole through a second connection, split into its lines there and their hashes
summed (`BATCH_CHECKSUM`, summing.py), while the first connection goes on loading. Each
side's checksum is the row count beside the exact sum of hashtextextended(text, seed) over
its rows, with a random seed per import. md5 per row would cost the server several times the
rest of the proof; the 64-bit seeded hash is as good at telling an altered row from its
original.

Only when the sums differ are rows compared one by one, to say where: per-row md5s of
salt || text from the server against the same computed here (`line_hash`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from hashlib import md5

from psycopg import sql

from pgstead.importer.convert import ColumnConversion

_MASK = (1 << 64) - 1
# COPY's escapes, in SQL (E'' strings: the same whatever standard_conforming_strings is).
_ESCAPED = ("replace(replace(replace(replace({}, E'\\\\', E'\\\\\\\\'), E'\\n', E'\\\\n'), "
            "E'\\r', E'\\\\r'), E'\\t', E'\\\\t')")


def new_salt() -> str:
    return os.urandom(12).hex()


def new_seed() -> int:
    return int.from_bytes(os.urandom(8), "big", signed=True)


def line_hash(salt: bytes, line: bytes) -> int:
    return int.from_bytes(md5(salt + line).digest()[:8], "big", signed=True)


@dataclass
class Checksum:
    rows: int = 0
    total: int = 0  # the exact sum of the rows' signed 64-bit hashes

    @property
    def hex(self) -> str:
        return f"{self.total & _MASK:016x}"


def value_text(column: str, conversion: ColumnConversion) -> sql.Composable:
    """SQL for the text of a stored value: what the import's converter writes for it."""
    text = sql.SQL(conversion.pg_render).format(sql.Identifier(column))
    if conversion.escaped:
        text = sql.SQL(_ESCAPED).format(text)
    return sql.SQL("coalesce({}, E'\\\\N')").format(text)


def row_text(columns: Sequence[tuple[str, ColumnConversion]]) -> sql.Composable:
    """SQL for a stored row's COPY text line (without its newline)."""
    return sql.SQL(" || E'\\t' || ").join(value_text(name, conversion)
                                          for name, conversion in columns)


def row_hash_sql(columns: Sequence[tuple[str, ColumnConversion]]) -> sql.Composable:
    """SQL for line_hash of a stored row, the salt as the query's first parameter; md5 over
    the UTF-8 bytes whatever the database's encoding."""
    return sql.SQL("('x' || left(md5(convert_to(%s || {}, 'UTF8')), 16))::bit(64)::bigint"
                   ).format(row_text(columns))


def table_checksum(table: tuple[str, str],
                   columns: Sequence[tuple[str, ColumnConversion]]) -> sql.Composable:
    """SELECT (rows, exact sum of the rows' hashes) over the stored table; parameter: the
    seed."""
    return sql.SQL("SELECT count(*), coalesce(sum(hashtextextended({}, %s)), 0) FROM {}"
                   ).format(row_text(columns), sql.Identifier(*table))


# (lines, exact sum of their hashes) of a batch of lines; parameters: the seed, then the
# batch as UTF-8 bytes with a newline before each line and none after the last.
BATCH_CHECKSUM = ("SELECT count(*), coalesce(sum(hashtextextended(line, %s)), 0) "
                  "FROM string_to_table(convert_from(%b, 'UTF8'), E'\\n') "
                  "WITH ORDINALITY AS part(line, n) WHERE n > 1")
