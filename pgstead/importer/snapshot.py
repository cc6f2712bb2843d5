"""A consistent copy of the SQLite file, taken with SQLite's online backup API.

An app may still be writing to the file: `Connection.backup` with pages=-1 copies every page
in one step under one read transaction, so the copy is one committed state of the database,
never a torn mix. Everything after reads the copy; the live file is touched once.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pgstead.importer.errors import ImportRefused


@dataclass(frozen=True)
class FileStamp:
    """What changes when anyone commits to a SQLite file (the main file or its WAL)."""

    stamps: tuple[tuple[int, int] | None, ...]

    @classmethod
    def of(cls, path: Path) -> FileStamp:
        out = []
        for candidate in (path, Path(f"{path}-wal")):
            try:
                stat = candidate.stat()
                out.append((stat.st_mtime_ns, stat.st_size))
            except FileNotFoundError:
                out.append(None)
        return cls(tuple(out))


@dataclass(frozen=True)
class Snapshot:
    path: Path  # the private copy
    source: Path
    taken: FileStamp  # the source's stamp just before the copy began

    def source_changed(self) -> bool:
        """Whether someone wrote to the source after the copy was taken."""
        return FileStamp.of(self.source) != self.taken


@contextmanager
def sqlite_snapshot(source: Path) -> Iterator[Snapshot]:
    """Copy `source` into a private temporary file; removed afterwards."""
    if not source.is_file():
        raise ImportRefused(f"{source}: no such SQLite file")
    directory = tempfile.mkdtemp(prefix="pgstead-import-")
    copy = Path(directory) / "snapshot.db"
    try:
        before = FileStamp.of(source)  # before: a write during the copy must count as a change
        try:
            live = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
            target = sqlite3.connect(copy)
            # A private copy read once and removed: waiting for its writes to reach the disk
            # was a third of the copy's time.
            target.execute("PRAGMA synchronous = OFF")
            try:
                live.backup(target)  # pages=-1: one step, one read transaction
            finally:
                target.close()
                live.close()
        except sqlite3.DatabaseError as error:
            raise ImportRefused(f"{source}: cannot read it as SQLite: {error}") from None
        yield Snapshot(copy, source, before)
    finally:
        for leftover in Path(directory).iterdir():
            leftover.unlink()
        os.rmdir(directory)
