"""Converting ahead: each table's batches in order, a failure where it happened, and the
queue held to its bound while nobody reads."""

from __future__ import annotations

import sqlite3
import time

import pytest

from pgstead.importer import ahead
from pgstead.importer.ahead import Ahead


class FakeConverters:
    """Batches of `size` bytes, `per_table` per table; counts what it has handed out."""

    def __init__(self, snapshot, per_table: int, size: int, fail_at: tuple | None = None):
        self.snapshot = snapshot
        self.per_table, self.size, self.fail_at = per_table, size, fail_at
        self.made = 0

    def batches(self, db, plan, on_failure):
        assert isinstance(db, sqlite3.Connection)
        for number in range(1, self.per_table + 1):
            if (plan, number) == self.fail_at:
                on_failure(number, ("bad",))
            self.made += 1
            yield number, 1, bytes([plan]) * self.size


def _snapshot(tmp_path):
    path = tmp_path / "s.db"
    sqlite3.connect(path).close()
    return path


def test_each_tables_batches_come_in_order(tmp_path):
    converters = FakeConverters(_snapshot(tmp_path), per_table=5, size=10)
    queue = Ahead(converters, [0, 1, 2], lambda plan: None, lambda: True)
    for index in range(3):
        clean, batches = queue.table(index)
        assert clean
        assert [(b.number, b.data) for b in batches] == [(n, bytes([index]) * 10)
                                                         for n in range(1, 6)]


def test_a_failure_surfaces_after_the_batches_before_it(tmp_path):
    converters = FakeConverters(_snapshot(tmp_path), per_table=4, size=10, fail_at=(1, 3))

    def on_failure(plan):
        def failed(number, row):
            raise ValueError(f"table {plan} row {number}")
        return failed
    queue = Ahead(converters, [0, 1], on_failure, lambda: True)
    assert len(list(queue.table(0)[1])) == 4
    clean, batches = queue.table(1)
    assert [b.number for b in (next(batches), next(batches))] == [1, 2]
    with pytest.raises(ValueError, match="table 1 row 3"):
        next(batches)


def test_a_dry_runs_failures_mark_the_batches_from_there_on(tmp_path):
    failures = []
    converters = FakeConverters(_snapshot(tmp_path), per_table=3, size=10, fail_at=(0, 2))
    queue = Ahead(converters, [0, 1], lambda plan: lambda n, row: failures.append(n),
                  lambda: not failures)
    assert [b.clean for b in queue.table(0)[1]] == [True, False, False]
    clean, batches = queue.table(1)
    assert not clean and not any(b.clean for b in batches)


def test_the_queue_stops_at_its_bound_until_read(tmp_path, monkeypatch):
    monkeypatch.setattr(ahead, "AHEAD_BYTES", 100)
    converters = FakeConverters(_snapshot(tmp_path), per_table=50, size=30)
    queue = Ahead(converters, [0], lambda plan: None, lambda: True)
    deadline = time.monotonic() + 30
    while converters.made < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    # Three batches (90 bytes) fit; the fourth is made and waits to go in, for good: a
    # while later (which a correct queue cannot fail by) nothing more has been made.
    time.sleep(0.3)
    assert converters.made == 4
    assert len(list(queue.table(0)[1])) == 50
