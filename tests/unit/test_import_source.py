"""What the importer reads of a SQLite column before converting it, against SQLite's own
typeof() on a real SQLite database."""

from __future__ import annotations

import sqlite3

import pytest

from pgstead.importer import source as src

VALUES = [None, 0, -5, 3.5, -1e12, 1_700_000_000_123, "abc", "", "12x", " 7", "\x00z",
          b"\x00", b"", b"abc"]


@pytest.mark.parametrize("declared", ["TEXT", "INTEGER", "NUMERIC", "REAL", "BLOB", "",
                                      "TEXT COLLATE NOCASE", "TEXT COLLATE RTRIM"])
def test_time_profile_counts_numbers_and_texts_as_typeof_does(declared):
    db = sqlite3.connect(":memory:")
    db.execute(f'CREATE TABLE t ("at" {declared})')
    db.executemany("INSERT INTO t VALUES (?)", [(v,) for v in VALUES])
    stored = db.execute("SELECT typeof(at), at FROM t").fetchall()
    numbers = [abs(v) for kind, v in stored if kind in ("integer", "real")]
    texts = sum(kind == "text" for kind, _ in stored)
    assert src.time_profile(db, "t", "at") == (max(numbers, default=None), len(numbers), texts)
