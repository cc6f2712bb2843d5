"""Converting ahead of the sending, across tables.

Between two tables' COPYs the importing connection is busy for a while with the table just
loaded (ANALYZE, its foreign keys put back, its checksum), and without somewhere to put
their text the converting workers would wait for it. One thread runs Converters.batches for
every table in load order and queues what they give, up to AHEAD_BYTES: memory stays flat
in the table size, and the queue holds more than that pause takes to convert.

Everything reaches the importing thread in order, a failure too: a value that cannot
convert (raised by on_failure) surfaces after the batches before it, as it would have
without the thread.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pgstead.importer.lines import OnFailure
from pgstead.importer.matching import TablePlan
from pgstead.importer.workers import Converters

AHEAD_BYTES = 32 << 20


@dataclass(frozen=True)
class Batch:
    number: int  # rows of its table read so far
    lines: int
    data: bytes  # the lines' COPY text
    clean: bool  # no value has failed yet, in this table or an earlier one


class Ahead:
    """The batches of `plans`, converted ahead; take each table's with table(), in order.
    `clean()` says whether no value has failed so far (on_failure keeps that count)."""

    def __init__(self, converters: Converters, plans: list[TablePlan],
                 on_failure: Callable[[TablePlan], OnFailure],
                 clean: Callable[[], bool]) -> None:
        self._queue: deque[tuple] = deque()
        self._bytes = 0
        self._stopped = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(
            target=self._run, args=(converters, plans, on_failure, clean),
            name="pgstead-import-ahead", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop converting (the thread ends once the workers' current ranges are in)."""
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    def table(self, index: int) -> tuple[bool, Iterator[Batch]]:
        """(whether no value had failed before table `index`, its batches); the batches
        raise what converting them raised."""
        kind, what = self._get()
        if kind == "error":
            raise what
        assert (kind, what[0]) == ("start", index), f"{kind} {what} came for table {index}"
        return what[1], self._batches(index)

    def _batches(self, index: int) -> Iterator[Batch]:
        while True:
            kind, what = self._get()
            if kind == "batch":
                yield what
            elif kind == "error":
                raise what
            else:
                assert what == index, f"table {what} came for table {index}"
                return

    def _get(self) -> tuple:
        with self._changed:
            while not self._queue:
                self._changed.wait()
            item = self._queue.popleft()
            if item[0] == "batch":
                self._bytes -= len(item[1].data)
            self._changed.notify_all()
            return item

    def _put(self, item: tuple, size: int = 0) -> bool:
        with self._changed:
            # One item always fits, so a batch larger than the bound still passes.
            while self._bytes and self._bytes + size > AHEAD_BYTES and not self._stopped:
                self._changed.wait()
            if self._stopped:
                return False
            self._queue.append(item)
            self._bytes += size
            self._changed.notify_all()
            return True

    def _run(self, converters: Converters, plans: list[TablePlan],
             on_failure: Callable[[TablePlan], OnFailure], clean: Callable[[], bool]) -> None:
        db = sqlite3.connect(f"{converters.snapshot.as_uri()}?mode=ro", uri=True)
        try:
            for index, plan in enumerate(plans):
                if not self._put(("start", (index, clean()))):
                    return
                for number, lines, data in converters.batches(db, plan, on_failure(plan)):
                    if not self._put(("batch", Batch(number, lines, data, clean())),
                                     len(data)):
                        return
                if not self._put(("end", index)):
                    return
        except BaseException as error:  # noqa: BLE001 - raised in the importing thread
            self._put(("error", error))
        finally:
            db.close()
