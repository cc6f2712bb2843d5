"""Conversion in worker processes gives what one in-order reader gives: the same COPY text,
the same row numbers for the values that fail, for dense and sparse rowids."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from pgstead.importer import source as src
from pgstead.importer.lines import source_lines
from pgstead.importer.matching import plan_table
from pgstead.importer.target import TargetColumn, TargetTable
from pgstead.importer.workers import Converters, text_of


def _target() -> TargetTable:
    def column(name: str, base: str) -> TargetColumn:
        return TargetColumn(name, base, base, "b", -1, False, "", False, False, None)
    return TargetTable("public", "t", [column("id", "int8"), column("n", "int4"),
                                       column("s", "text"), column("j", "jsonb")])


def _database(path, ids) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n, s TEXT, j TEXT)")
    db.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", (
        (i, "x" if i % 997 == 0 else i % 50_000,  # a value that cannot convert
         f"a\tb{i}" if i % 3 else ("nul\x00" if i % 1999 == 0 else None),
         "{bad" if i % 1499 == 0 else json.dumps({"k": i, "a": [i % 7]}))
        for i in ids))
    db.commit()
    db.close()


def _compare(path) -> list[int]:
    db = sqlite3.connect(path)
    plan = plan_table(db, src.read_tables(db)["t"], _target())
    expected_failures: list[int] = []
    expected = b"".join(text_of(lines) for _, lines in source_lines(
        db, plan, lambda number, row: expected_failures.append(number)))
    failures: list[int] = []
    converters = Converters(path, 2)
    try:
        batches = list(converters.batches(db, plan, lambda number, row: failures.append(number)))
    finally:
        converters.close()
    assert b"".join(text for _, _, text in batches) == expected
    assert batches[-1][0] == src.count_rows(db, "t")  # rows read, in all
    assert sum(lines for _, lines, _ in batches) == expected.count(b"\n")
    assert failures == expected_failures
    return failures


def test_workers_give_one_readers_text_and_row_numbers(tmp_path):
    path = tmp_path / "dense.db"
    _database(path, range(1, 23_001))
    failures = _compare(path)
    assert failures and failures == sorted(failures)


def test_sparse_rowids_still_come_back_in_order(tmp_path):
    path = tmp_path / "sparse.db"
    _database(path, [*range(1, 7001), *range(10**12, 10**12 + 9000), 2**62])
    assert _compare(path)


def test_rowid_ranges_cover_the_table_once():
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    assert src.rowid_ranges(db, "t", "rowid", 0, 100) == []
    db.executemany("INSERT INTO t VALUES (?)", [(i,) for i in (*range(5, 1005), 10**15)])
    ranges = src.rowid_ranges(db, "t", "rowid", 1001, 100)
    assert ranges[0][1] == 5 and ranges[-1][2] == 10**15
    assert all(a[2] + 1 == b[1] for a, b in zip(ranges, ranges[1:], strict=False))
    assert len(ranges) <= 11


def test_a_worker_starts_without_psycopg():
    # Each import spawns its workers anew: what they import is time before the first row.
    probe = "import sys, pgstead.importer.workers; print(sorted(m for m in sys.modules " \
            "if m.split('.')[0] in ('psycopg', 'psycopg_binary')))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
