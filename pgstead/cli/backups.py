"""`pgstead backups FILE.yml`: each host's backup sets and the outcome of its last run.

Runs `pgstead-backup --list` on every inventory host (through the same connector and sudo
settings as a deploy) and reads BACKUP_DIR/last-run.json there.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import click

from pgstead.cli.backup_report import HostBackups, describe_status, human_size, read_last_run, table
from pgstead.cli.host_program import error_message, json_lines, program_command
from pgstead.cli.hosts import HostUnreachable, InventoryHosts, default_inventory, inventory_hosts
from pgstead.cli.pitr_backups import describe_pitr_host, read_pitr_host
from pgstead.config.load import load_environment
from pgstead.config.model import Environment
from pgstead.render.cron import BACKUP_PROGRAM


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


def _leader(hosts: InventoryHosts) -> str:
    from pgstead.cli.ha_members import leader_host

    try:
        return leader_host(hosts)
    except LookupError as error:
        raise click.ClickException(str(error)) from None


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
    incomplete). Exit 1 when a host could not be read. With ha: the current leader's (the
    backup job works there only), unless --host names another member.
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
        elif env.ha is not None:
            # The backup job works on the leader only: its sets are the cluster's.
            names = [_leader(hosts)]
        read, describe = read_host, describe_host
        if env.backups.method == "pgbackrest":
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
