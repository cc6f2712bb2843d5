"""The source side of a table: each SQLite row as its COPY text line (convert.py), in batches.

Most values need no Python: consecutive columns whose conversion has an SQLite rendering
are rendered by SQLite itself, in one expression giving their part of the line, and that
expression is NULL for a row holding a value it cannot vouch for (a float in an integer
column, 't' in a boolean one, ISO text with an offset...). Python converts the other
columns, and every column of a row SQLite gave up on, read again by its rowid, with the
same converters that decide what can be converted at all. Both ways give the same text for
the same value (tests/unit/test_import_convert.py checks them against each other).

A batch is converted a column at a time and its lines joined by C loops (zip, map,
str.join), not row by row: per-row Python bytecode was a third of the converting thread's
time. Any batch with something the fast way cannot vouch for (a part SQLite gave up on, a
value a converter refuses, a NUL) is converted again row by row, which decides each row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from itertools import repeat
from operator import contains

from pgstead.importer import source as src
from pgstead.importer.convert import NULL, ConversionError
from pgstead.importer.matching import TablePlan

BATCH = 5000
# A row that cannot convert: its number (1-based, in SQLite's order) and its values.
OnFailure = Callable[[int, tuple], None]


def _raw(converter: Callable) -> Callable:
    return getattr(converter, "__wrapped__", converter)  # None is tested inline


def sqlite_parts(plan: TablePlan) -> list[tuple[str, Callable | None]]:
    """The SELECT list: (expression, None) for a run of columns SQLite renders, (column,
    converter) for one Python converts."""
    parts: list[tuple[str, Callable | None]] = []
    run: list[str] = []
    for column in plan.columns:
        quoted = src.quote_sqlite(column.source)
        if column.conversion.sqlite is None:
            if run:
                parts.append((" || char(9) || ".join(run), None))
                run = []
            parts.append((quoted, _raw(column.conversion.convert)))
            continue
        condition, rendering = column.conversion.sqlite
        run.append(f"CASE WHEN {quoted} IS NULL THEN '{NULL}' WHEN "
                   f"{condition.format(quoted)} THEN {rendering.format(quoted)} END")
    if run:
        parts.append((" || char(9) || ".join(run), None))
    return parts


def source_lines(db: sqlite3.Connection, plan: TablePlan, on_failure: OnFailure,
                 rowids: src.RowidRange | None = None) -> Iterator[tuple[int, list[str]]]:
    """(rows read so far, their lines) per batch, of the whole table or of the rows in
    `rowids`; rows that cannot convert go to `on_failure` (which may raise) instead."""
    names = tuple(c.source for c in plan.columns)
    converters = [_raw(c.conversion.convert) for c in plan.columns]
    if rowids is not None:
        rowid: str | None = rowids[0]
    elif any(c.conversion.sqlite for c in plan.columns):
        rowid = src.rowid_name(db, plan.source.name, names)
    else:
        rowid = None
    if rowid is None:
        yield from _converted_lines(db, plan, converters, on_failure)
        return

    def slowly(key: int, number: int) -> str | None:
        row = src.row_at(db, plan.source.name, names, rowid, key)
        try:
            return "\t".join([NULL if v is None else f(v)
                              for f, v in zip(converters, row, strict=True)])
        except ConversionError:
            on_failure(number, row)
            return None

    parts = sqlite_parts(plan)
    fs = [f for _, f in parts]
    number = 0
    for chunk in src.rows(db, plan.source.name, [e for e, _ in parts] + [rowid],
                          rowids=rowids):
        lines = _fast_lines(fs, chunk)
        if lines is None:
            lines = []
            for offset, row in enumerate(chunk, number + 1):
                try:
                    line = "\t".join(  # zip leaves the rowid out
                        [v if f is None else NULL if v is None else f(v)
                         for f, v in zip(fs, row, strict=False)])
                    if "\x00" not in line:  # SQLite's text functions stop at a NUL
                        lines.append(line)
                        continue
                except (TypeError, ConversionError):  # TypeError: a part SQLite gave up on
                    pass
                line = slowly(row[-1], offset)
                if line is not None:
                    lines.append(line)
        number += len(chunk)
        yield number, lines


def _fast_lines(fs: list[Callable | None], chunk: list[tuple]) -> list[str] | None:
    """The batch's lines, a column at a time (a trailing rowid is left out); None when some
    row needs deciding row by row."""
    columns = list(zip(*chunk, strict=False))
    try:
        rendered = [column if f is None else [NULL if v is None else f(v) for v in column]
                    for f, column in zip(fs, columns, strict=False)]
        # join: TypeError on a part SQLite gave up on (NULL for a value it cannot vouch for)
        lines = (rendered[0] if len(rendered) == 1
                 else list(map("\t".join, zip(*rendered, strict=True))))
    except (TypeError, ConversionError):
        return None
    if None in lines or any(map(contains, lines, repeat("\x00"))):
        return None  # SQLite gave up on a lone part, or a NUL (SQLite's text functions stop at one)
    return list(lines)


def _converted_lines(db: sqlite3.Connection, plan: TablePlan, converters: list[Callable],
                     on_failure: OnFailure) -> Iterator[tuple[int, list[str]]]:
    number = 0
    columns = [src.quote_sqlite(c.source) for c in plan.columns]
    for chunk in src.rows(db, plan.source.name, columns):
        lines = _fast_lines(converters, chunk)
        if lines is None:
            lines = []
            for offset, row in enumerate(chunk, number + 1):
                try:
                    lines.append("\t".join([NULL if v is None else f(v)
                                            for f, v in zip(converters, row, strict=True)]))
                except ConversionError:
                    on_failure(offset, row)
        number += len(chunk)
        yield number, lines
