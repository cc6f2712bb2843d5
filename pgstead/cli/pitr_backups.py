"""`pgstead backups FILE` for `backups.method: pgbackrest`: the stanza's backups as pgBackRest
lists them (`info --output=json`, through pgstead-pgbackrest --info) and the last run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pgstead.cli.backup_report import HostBackups, describe_status, human_size, read_last_run, table
from pgstead.cli.host_program import error_message, program_command
from pgstead.cli.hosts import HostUnreachable, InventoryHosts
from pgstead.config.model import Environment
from pgstead.facts.pgbackrest import parse_info
from pgstead.render.pgbackrest import PITR_PROGRAM


def backup_row(backup: dict[str, Any]) -> dict[str, Any]:
    """One pgBackRest backup as a set of `pgstead backups`."""
    info, stamps = backup.get("info", {}), backup.get("timestamp", {})
    return {
        "kind": "pgbackrest",
        "set": backup.get("label"),
        "type": backup.get("type"),
        "started": stamps.get("start"),
        "stopped": stamps.get("stop"),
        "size_bytes": info.get("repository", {}).get("delta"),
        "database_bytes": info.get("size"),
        "status": "error" if backup.get("error") else "ok",
    }


def read_pitr_host(hosts: InventoryHosts, name: str, env: Environment) -> HostBackups:
    """The stanza's backups and the last run on one host; what went wrong becomes `error`."""
    found = HostBackups(name)
    try:
        output = hosts.run(name, program_command(PITR_PROGRAM, env.name, "--info"))
        info = parse_info("\n".join(output.stdout_lines)) if output.ok else None
        if not output.ok:
            found.error = error_message(output)
        elif info is None or not info.exists:
            found.error = (f"no pgBackRest stanza yet ({info.status if info else 'no answer'}): "
                           "apply the environment first")
        else:
            found.sets = [backup_row(b) for b in info.backups]
            found.last_run = read_last_run(hosts, name, env.backups.dir)
    except HostUnreachable as error:
        found.error = str(error)
    return found


def _time(epoch: object) -> str:
    if not isinstance(epoch, int):
        return "?"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S+00")


def describe_pitr_host(found: HostBackups) -> list[str]:
    lines = describe_status(found)
    if found.error:
        return lines
    if not found.sets:
        return [*lines, "  no pgBackRest backups yet"]
    header = ("BACKUP", "TYPE", "STARTED", "STOPPED", "SIZE", "STATUS")
    rows = [(str(s["set"]), str(s["type"]), _time(s["started"]), _time(s["stopped"]),
             human_size(s["size_bytes"]), str(s["status"])) for s in found.sets]
    return [*lines, "  pgBackRest backups (restore to any time since the oldest one's stop "
                    "with `pgstead restore --to-time`)", *table([header, *rows], "    ")]
