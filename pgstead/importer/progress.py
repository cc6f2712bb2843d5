"""How a long import shows it is alive: a live line on a terminal, a log line per table
otherwise (so a CI log or a redirected file holds no carriage-return noise)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from pgstead.importer.report import TableReport

# Rows between two updates of the live line.
EVERY = 20000


class Progress:
    """Silent: what a library caller gets unless it asks for more."""

    def started(self, total_rows: int) -> None: ...

    def table_started(self, label: str, rows: int) -> None: ...

    def rows_done(self, label: str, done: int) -> None: ...

    def table_done(self, table: TableReport) -> None: ...

    def note(self, message: str) -> None: ...


class StreamProgress(Progress):
    """Writes to `stream` (stderr): a rewritten line when it is a terminal, else one line per
    table."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.total = 0
        self.before = 0  # rows of finished tables
        self.table_rows = 0
        self.last = 0.0

    def started(self, total_rows: int) -> None:
        self.total = total_rows

    def table_started(self, label: str, rows: int) -> None:
        self.table_rows = rows

    def rows_done(self, label: str, done: int) -> None:
        if not self.live or time.monotonic() - self.last < 0.2:
            return
        self.last = time.monotonic()
        overall = self.before + done
        self.stream.write(f"\r\x1b[Kimport: {label} {done}/{self.table_rows} rows, "
                          f"overall {overall}/{self.total} "
                          f"({100 * overall // max(1, self.total)}%)")
        self.stream.flush()

    def table_done(self, table: TableReport) -> None:
        self.before += table.rows
        prefix = "\r\x1b[K" if self.live else ""
        self.stream.write(f"{prefix}import: {table.target} {table.rows} rows loaded in "
                          f"{table.load_seconds:.2f} s\n")
        self.stream.flush()

    def note(self, message: str) -> None:
        self.stream.write(f"{message}\n")
        self.stream.flush()
