"""`pgstead backups FILE.yml`: each host's backup sets and the outcome of its last run.

Runs `pgstead-backup --list` on every inventory host (through the same connector and sudo
settings as a deploy) and reads BACKUP_DIR/last-run.json there.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass, field
from typing import Any

import click

from pgstead.cli.host_program import error_message, json_lines, program_command
from pgstead.cli.hosts import HostUnreachable, InventoryHosts, default_inventory, inventory_hosts
from pgstead.config.load import load_environment
from pgstead.config.model import Environment
from pgstead.cron_entry import BACKUP_PROGRAM

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


def read_host(hosts: InventoryHosts, name: str, env: Environment) -> HostBackups:
    """The backup sets and last run of one host; an unreachable host or a failed listing
    becomes `error`."""
    found = HostBackups(name)
    try:
        output = hosts.run(name, program_command(BACKUP_PROGRAM, env.name, "--list"))
        if not output.ok:
            found.error = error_message(output)
            return found
        found.sets = json_lines(output.stdout_lines)
        found.last_run = read_last_run(hosts, name, env.backups.dir)
    except HostUnreachable as error:
        found.error = str(error)
    return found


def _set_row(entry: dict[str, Any]) -> tuple[str, str, str, str]:
    verified = "-" if entry.get("kind") == "globals" else ("yes" if entry.get("verified") else "no")
    return (str(entry.get("set")), human_size(entry.get("size_bytes")), verified,
            str(entry.get("status")))


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


def describe_host(found: HostBackups) -> list[str]:
    lines = describe_status(found)
    if found.error:
        return lines
    if not found.sets:
        return [*lines, "  no backup sets yet"]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for entry in found.sets:
        if entry.get("kind") == "globals":
            key = ("~", "globals (roles and tablespaces)")
        else:
            key = ("", f"database {entry.get('db')}")
        groups.setdefault(key, []).append(entry)
    header = ("SET", "SIZE", "VERIFIED", "STATUS")
    for key in sorted(groups):
        lines.append(f"  {key[1]}")
        lines += table([header, *(_set_row(e) for e in groups[key])], "    ")
    return lines


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--inventory", metavar="INVENTORY",
              help="pyinfra inventory of the hosts (default: FILE's NAME.py beside it, else "
                   "@local).")
@click.option("--host", "only_host", metavar="NAME", help="Only this inventory host.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def backups(file: str, inventory: str | None, only_host: str | None,
            output_format: str) -> None:
    """List each host's backup sets of FILE's environment and its last backup run.

    For every set: name, size, whether its restore was verified, and status (ok, failed,
    incomplete). Exit 1 when a host could not be read.
    """
    env = load_environment(file, resolve_secrets=False)
    inventory = inventory or default_inventory(file)
    with inventory_hosts(inventory) as hosts:
        names = hosts.names
        if not names:
            raise click.UsageError(f"inventory {inventory} has no hosts")
        if only_host is not None:
            if only_host not in names:
                raise click.BadParameter(f"no host {only_host!r} in inventory {inventory} "
                                         f"(hosts: {', '.join(names)})", param_hint="--host")
            names = [only_host]
        read, describe = read_host, describe_host
        if env.backups.method == "pgbackrest":
            # Imported here: that module builds on this one.
            from pgstead.cli.pitr_backups import describe_pitr_host, read_pitr_host
            read, describe = read_pitr_host, describe_pitr_host
        found = [read(hosts, name, env) for name in names]
    if output_format == "json":
        click.echo(json.dumps([asdict(f) for f in found], indent=2))
    else:
        if not env.backups.enabled:
            click.echo(f"note: backups.enabled is false in {file}: no new sets are made")
        click.echo("\n".join(line for f in found for line in describe(f)))
    if any(f.error for f in found):
        raise click.exceptions.Exit(1)
