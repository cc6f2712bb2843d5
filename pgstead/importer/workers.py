"""Converting a table's rows in worker processes, beside the process that sends them.

Conversion is the load's critical path (Python per value, and SQLite rendering the rest),
and one Python thread is one core: the writer threads and both backends left the other
core mostly idle. Each worker opens the snapshot itself, re-makes the table's plan from
what made it here (no column is scanned twice), and converts ranges of rowids into COPY
text (lines.source_lines, the same code as in this process). Ranges are handed out in
turn and their results read back in rowid order, so the lines, the row numbers and the
first value that fails are those of one process reading the table in order. Each worker
keeps at most AHEAD ranges queued and blocks on its pipe until its result is read: memory
stays flat in the table size. A table without a rowid is converted in this process.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path

from pgstead.importer import source as src
from pgstead.importer.lines import BATCH, OnFailure, source_lines
from pgstead.importer.matching import TablePlan, plan_table

# Rows per range handed to a worker: one batch, one message. A worker can run ahead only
# until its pipe is full, so with ranges of several batches the one not being read sat
# blocked after its first batch while the other's rest was read.
RANGE_ROWS = BATCH
AHEAD = 2  # ranges queued per worker


def worker_count() -> int:
    """As many workers as cores, two at least (one core still overlaps SQLite and Python
    with the sending), four at most (one backend takes the COPY)."""
    return max(2, min(4, os.cpu_count() or 1))


def text_of(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode() if lines else b""


class Converters:
    """A pool of converting processes for one snapshot; close() ends them."""

    def __init__(self, snapshot: Path, count: int) -> None:
        self.snapshot = snapshot
        context = multiprocessing.get_context("spawn")  # no fork of this threaded process
        self._pipes: list[Connection] = []
        self._processes = []
        self._plans: set[tuple[str, str]] = set()
        for _ in range(count):
            mine, theirs = context.Pipe()
            process = context.Process(target=_serve, args=(str(snapshot), theirs),
                                      name="pgstead-import-convert", daemon=True)
            process.start()
            theirs.close()
            self._pipes.append(mine)
            self._processes.append(process)

    def close(self) -> None:
        for process in self._processes:
            process.terminate()  # also one blocked on its pipe, when a table was abandoned
        for process in self._processes:
            process.join()
        for pipe in self._pipes:
            pipe.close()

    def batches(self, db: sqlite3.Connection, plan: TablePlan,
                on_failure: OnFailure) -> Iterator[tuple[int, int, bytes]]:
        """(rows read so far, lines, their COPY text) per batch, as lines.source_lines in
        this process would give them."""
        names = tuple(c.source for c in plan.columns)
        rowid = src.rowid_name(db, plan.source.name, names)
        if rowid is None:
            for number, lines in source_lines(db, plan, on_failure):
                yield number, len(lines), text_of(lines)
            return
        rows = src.count_rows(db, plan.source.name)
        ranges = src.rowid_ranges(db, plan.source.name, rowid, rows, RANGE_ROWS)
        key = plan.target.qualified
        if key not in self._plans:
            stats = {c.source: c.time_stats for c in plan.columns}
            for pipe in self._pipes:
                pipe.send(("plan", key, (plan.source, plan.target, stats)))
            self._plans.add(key)
        count = len(self._pipes)
        for index in range(min(len(ranges), count * AHEAD)):
            self._pipes[index % count].send(("range", key, ranges[index]))
        done = 0
        for index in range(len(ranges)):
            pipe = self._pipes[index % count]
            read = 0
            while (message := _receive(pipe, plan))[0] == "batch":
                _, read, lines, text, failures = message
                for number, row in failures:
                    on_failure(done + number, row)
                yield done + read, lines, text
            done += read
            if index + count * AHEAD < len(ranges):
                pipe.send(("range", key, ranges[index + count * AHEAD]))


def _receive(pipe: Connection, plan: TablePlan) -> tuple:
    try:
        message = pipe.recv()
    except EOFError:
        raise RuntimeError(f"{plan.label}: a converting process ended") from None
    if message[0] == "error":
        raise RuntimeError(f"{plan.label}: converting failed in a worker:\n{message[1]}")
    return message


def _serve(snapshot: str, pipe: Connection) -> None:
    """A worker: plans and ranges in, ("batch", ...)* then ("end",) per range out."""
    db = sqlite3.connect(f"{Path(snapshot).as_uri()}?mode=ro", uri=True)
    plans: dict[tuple[str, str], TablePlan] = {}
    failures: list[tuple[int, tuple]] = []  # of the batch being converted

    def failed(number: int, row: tuple) -> None:
        failures.append((number, row))

    while True:
        kind, key, what = pipe.recv()
        try:
            if kind == "plan":
                source, target, stats = what
                plans[key] = plan_table(db, source, target, stats)
                continue
            failures.clear()
            for read, lines in source_lines(db, plans[key], failed, what):
                pipe.send(("batch", read, len(lines), text_of(lines), failures))
                failures.clear()  # send pickled them already
            pipe.send(("end",))
        except Exception:  # noqa: BLE001 - sent to the importing process, which raises it
            pipe.send(("error", traceback.format_exc()))
