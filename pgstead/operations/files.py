"""Files and directories pgstead owns on a host, read through one fact and changed by difference.

pyinfra's `files.put` reads three facts for each unchanged file; here one command reads every
path an operation manages (kind, owner, mode, sha256), and only what differs is changed.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation
from pyinfra.api.exceptions import OperationError

from pgstead.facts.paths import PathState, PathStates
from pgstead.facts.roles import SecretStdin
from pgstead.operations.plan_notes import plan_note


@dataclass(frozen=True)
class Directory:
    """A directory (created with its parents) with this owner and mode."""

    path: str
    owner: str = "root"
    group: str = "root"
    mode: str = "755"


@dataclass(frozen=True)
class File:
    """A file whose content is exactly `content`: text, bytes, or the bytes of a local file."""

    path: str
    content: str | bytes | Path = field(repr=False)  # may be a secret: never printed
    owner: str = "root"
    group: str = "root"
    mode: str = "644"

    def data(self) -> bytes:
        if isinstance(self.content, Path):
            return self.content.read_bytes()
        if isinstance(self.content, str):
            return self.content.encode()
        return self.content


@dataclass(frozen=True)
class Line:
    """A file that holds `line` as one whole line; created with only that line when missing.

    The rest of the file is not pgstead's: the line is appended when absent, nothing else
    changes.
    """

    path: str
    line: str
    owner: str = "root"
    group: str = "root"
    mode: str = "644"


@dataclass(frozen=True)
class Absent:
    """No file (or symlink) at `path`."""

    path: str


Entry = Directory | File | Line | Absent


@operation()
def managed_files(entries: list[Entry]):
    """
    Ensure directories, files, lines in files and absent files, in the order given.

    + entries: `Directory`, `File`, `Line` and `Absent` values; a directory listed before the
      files in it is created first

    One fact reads every entry's path. A file whose digest differs is written to a temporary
    file beside it, given its owner and mode, then renamed over it, so a half-written or
    wrongly owned file is never seen; its content travels on stdin and is never printed. Only
    owner and mode are changed when only they differ.

    **Example:**

    .. code:: python

        files.managed_files(name="Backup files", entries=[
            Directory("/etc/pgstead"),
            File("/etc/pgstead/backup-prod.conf", config_text, group="postgres", mode="640"),
            Line("/var/lib/postgresql/.bash_profile", "umask 077", "postgres", "postgres"),
            Absent("/etc/cron.d/pgstead-old"),
        ])
    """
    changes = file_changes(entries)
    if not changes:
        host.noop(f"{len(entries)} managed paths up to date")
        return
    # All noted before the first command: a plan reads no further than that.
    for path, (why, _) in changes:
        plan_note(path, why)
    for _, (_, command) in changes:
        yield command


def file_changes(entries: list[Entry]) -> list[tuple[str, tuple[str, StringCommand]]]:
    """(path, (why, command)) for each entry that differs from the host, read in one fact;
    for operations that write files and then act on whether any changed."""
    lines = tuple((e.path, e.line) for e in entries if isinstance(e, Line))
    live = host.get_fact(PathStates, paths=tuple(e.path for e in entries), lines=lines)
    return [(entry.path, change) for entry, state in zip(entries, live, strict=True)
            if (change := entry_change(entry, state)) is not None]


def entry_change(entry: Entry, state: PathState) -> tuple[str, StringCommand] | None:
    """What differs for one entry and the command that fixes it; None when nothing does."""
    path = QuoteString(entry.path)
    if isinstance(entry, Absent):
        if state.kind == "dir":
            raise OperationError(f"{entry.path} is a directory: pgstead removes only files")
        return None if state.kind == "missing" else ("remove", StringCommand("rm", "-f", path))
    wanted_kind = "dir" if isinstance(entry, Directory) else "file"
    if state.kind not in (wanted_kind, "missing"):
        raise OperationError(f"{entry.path} is a {state.kind}, pgstead expects a {wanted_kind}"
                             " there: move it away")
    if isinstance(entry, Directory):
        if state.kind == "missing":
            return ("create directory", StringCommand("mkdir", "-p", path, "&&",
                                                     *_ownership(entry, path)))
    elif isinstance(entry, File):
        data = entry.data()
        if state.kind == "missing" or state.sha256 != hashlib.sha256(data).hexdigest():
            why = "create" if state.kind == "missing" else "content differs"
            return why, _replace(entry, ["base64", "-d"], _base64(data))
    elif state.kind == "missing":
        return (f"create with {entry.line!r}",
                _replace(entry, ["base64", "-d"], _base64(f"{entry.line}\n".encode())))
    elif not state.has_line:
        # The file as it is, ended by a newline when it lacks one, then the line.
        copy = ["sed", "-e", QuoteString("$a\\"), path, "&&", "printf", QuoteString("%s\\n"),
                QuoteString(entry.line)]
        return f"append {entry.line!r}", _replace(entry, ["{", *copy, ";", "}"], None)
    if _same_owner(entry, state) and int(state.mode, 8) == int(entry.mode, 8):
        return None
    why = f"owner {state.names} mode {state.mode} -> {entry.owner}:{entry.group} {entry.mode}"
    return why, StringCommand(*_ownership(entry, path))


def _same_owner(entry: Directory | File | Line, state: PathState) -> bool:
    # A host without the name shows the number; an entry may name either.
    return f"{entry.owner}:{entry.group}" in (state.names, state.owner)


def _ownership(entry: Directory | File | Line, target: object) -> list[object]:
    return ["chown", QuoteString(f"{entry.owner}:{entry.group}"), target, "&&",
            "chmod", entry.mode, target]


def _base64(data: bytes) -> SecretStdin:
    # Exact bytes through stdin, which pyinfra ends with a newline; empty is no stdin at all.
    return SecretStdin(base64.encodebytes(data).decode())


def _replace(entry: File | Line, writer: list[object], stdin: SecretStdin | None) -> StringCommand:
    """Write the new content (from `writer`) into a root-only temporary file beside the target,
    set its owner and mode, and rename it over the target: one step for a reader."""
    target = QuoteString(entry.path)
    return StringCommand(
        "tmp=$(mktemp", StringCommand(target, ".pgstead-XXXXXX", _separator=""), ")", "&&",
        "{", *writer, '>"$tmp"', "&&", *_ownership(entry, '"$tmp"'), "&&",
        "mv", "-f", '"$tmp"', target, ";", "}",
        "||", "{", "rm", "-f", '"$tmp"', ";", "exit", "1;", "}",
        **({"_stdin": stdin} if stdin is not None else {}),
    )
