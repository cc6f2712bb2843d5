"""What `pgstead backups` shows of any host, whichever backup method made its sets: sizes,
the host's status line and its last run (last-run.json)."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from pgstead.cli.host_program import error_message
from pgstead.cli.hosts import InventoryHosts

_SIZE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_size(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in _SIZE_UNITS:
        if size < 1024 or unit == _SIZE_UNITS[-1]:
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


@dataclass
class HostBackups:
    host: str
    sets: list[dict[str, Any]] = field(default_factory=list)  # pgstead-backup --list lines
    last_run: dict[str, Any] | None = None  # last-run.json, None before the first run
    error: str | None = None  # why the host could not be read


def read_last_run(hosts: InventoryHosts, name: str, backup_dir: str) -> dict[str, Any] | None:
    path = shlex.quote(f"{backup_dir.rstrip('/')}/last-run.json")
    output = hosts.run(name, f"if [ -e {path} ]; then cat -- {path}; fi")
    if not output.ok:
        return {"status": "unreadable", "error": error_message(output)}
    text = "\n".join(output.stdout_lines).strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {"status": "unreadable", "error": "last-run.json is not valid JSON"}


def table(rows: list[tuple[str, ...]], indent: str) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows]


def describe_last_run(last: dict[str, Any] | None) -> list[str]:
    if last is None:
        return ["last run: none yet"]
    if last.get("status") == "unreadable":
        return [f"last run: unreadable ({last.get('error')})"]
    lines = [f"last run: {last.get('finished') or last.get('started')}, {last.get('status')}, "
             f"took {last.get('duration_s')} s"]
    if last.get("error"):
        lines.append(f"  error: {last['error']}")
    return lines


def describe_status(found: HostBackups) -> list[str]:
    """The host's line, then its error or its last run; its sets follow these."""
    lines = [f"host {found.host}"]
    if found.error:
        return [*lines, f"  error: {found.error}"]
    return lines + ["  " + line for line in describe_last_run(found.last_run)]
