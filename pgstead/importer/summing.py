"""The source side of every table's checksum, summed by the server as the lines are written.

Each batch written to a target table is also sent, whole, through a second connection (its
own backend, so beside the COPY rather than after it), where one query splits it into its
lines and sums their hashes (checksum.BATCH_CHECKSUM). A thread of its own sends them, a
few batches behind the COPY at most. Nothing is stored: a temporary table of the lines, as
before, cost that backend twice as much (COPY's parsing, the rows written, a scan to sum
them).
"""

from __future__ import annotations

import threading
from queue import Queue

import psycopg

from pgstead.importer.checksum import BATCH_CHECKSUM, Checksum

BATCHES_AHEAD = 8  # the batches the importer writes are about half a megabyte


class SourceSums:
    """add() each table's batches, then end() it; result() waits for its Checksum."""

    def __init__(self, conn: psycopg.Connection, seed: int) -> None:
        self._conn = conn
        self._seed = seed
        self._queue: Queue[tuple[int, bytes | None] | None] = Queue(maxsize=BATCHES_AHEAD)
        self._sums: dict[int, Checksum] = {}
        self._ended: dict[int, threading.Event] = {}
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="pgstead-import-sums",
                                        daemon=True)
        self._thread.start()

    def add(self, table: int, data: bytes) -> None:
        """A batch of table `table`'s COPY text lines, each ending in a newline."""
        self._raise()
        self._queue.put((table, data))

    def end(self, table: int) -> None:
        self._ended.setdefault(table, threading.Event())
        self._queue.put((table, None))

    def result(self, table: int) -> Checksum:
        self._ended[table].wait()
        self._raise()
        return self._sums.get(table, Checksum())

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        with self._conn.cursor() as cur:
            while (item := self._queue.get()) is not None:
                table, data = item
                if data is None:
                    self._ended[table].set()
                elif self._error is None:
                    try:
                        # A newline first, the last one off: the first part is always
                        # empty and is skipped, the others are the lines (an empty line
                        # too, which string_to_table gives nothing for when alone).
                        rows, total = cur.execute(BATCH_CHECKSUM,
                                                  (self._seed, b"\n" + data[:-1])).fetchone()
                    except BaseException as error:  # noqa: BLE001 - raised by add or result
                        self._error = error  # the queue is still drained: add never blocks
                        continue
                    sums = self._sums.setdefault(table, Checksum())
                    sums.rows += rows
                    sums.total += int(total)
