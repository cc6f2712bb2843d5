"""`pgstead restore FILE.yml --host H --database D`: restore a backup set on a host.

Runs `pgstead-restore` there, which does the work and the safety: by default the set goes into
a new database; `--replace` first takes a fresh backup of D, then swaps the restored copy in, and
drops the old database only when that fresh backup verified (never the only copy).
"""

from __future__ import annotations

import json
from typing import Any

import click

from pgstead.cli.failures import EXIT_FAILURE
from pgstead.cli.host_program import error_message, json_lines, program_command
from pgstead.cli.hosts import HostUnreachable, default_inventory, inventory_hosts
from pgstead.cli.pitr_restore import checked_time, restore_to_time
from pgstead.config.load import load_environment
from pgstead.render.cron import RESTORE_PROGRAM


def restore_arguments(database: str, from_set: str | None, into: str | None, replace: bool,
                      keep_old: bool) -> list[str]:
    args = ["--database", database]
    if from_set:
        args += ["--from", from_set]
    if into:
        args += ["--into", into]
    if replace:
        args.append("--replace")
    if keep_old:
        args.append("--keep-old")
    return args


def _count(value: Any) -> str:
    return "missing" if value is None else str(value)


def describe_tables(tables: list[dict[str, Any]]) -> list[str]:
    rows = [("TABLE", "ROWS", "EXPECTED")]
    rows += [(str(t["table"]), _count(t.get("rows")), _count(t.get("expected"))) for t in tables]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows]


def describe_summary(summary: dict[str, Any], database: str) -> list[str]:
    target, source = summary.get("database"), summary.get("restored_from")
    pre_set = summary.get("pre_replace_set")
    if pre_set is None:
        return [f"restored {database} from backup set {source} into new database {target}"]
    lines = [f"replaced {target} with backup set {source}",
             f"its contents before the replace are in backup set {pre_set}"]
    old = summary.get("old_database")
    if old:
        lines.append(f"the previous database is kept as {old} (DROP DATABASE it when no longer "
                     "needed)")
    else:
        lines.append("the previous database was dropped: the backup set above verified")
    return lines


def check_mode(pitr: bool, database: str | None, to_time: str | None, from_set: str | None,
               replace: bool, port: int | None) -> str | None:
    """Refuse options of the other backup method, before any host is reached; the checked
    --to-time of a point-in-time restore."""
    if not pitr:
        if to_time or port is not None:
            raise click.UsageError("--to-time and --port need backups.method: pgbackrest; "
                                   "this file's dumps restore one database (--database)")
        if not database:
            raise click.UsageError("--database is required")
        return None
    if database or from_set or replace:
        raise click.UsageError("with backups.method: pgbackrest a restore brings back the "
                               "whole cluster into a new one: --database, --from and "
                               "--replace do not apply; give --to-time TIME")
    if not to_time:
        raise click.UsageError("backups.method is pgbackrest: give --to-time TIME")
    return checked_time(to_time)


def _leader_or_usage(env, hosts) -> str:
    if env.ha is None:
        raise click.UsageError("Missing option '--host'")
    from pgstead.cli.ha_members import leader_host

    try:
        return leader_host(hosts)
    except LookupError as error:
        raise click.ClickException(str(error)) from None


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--host", "host_name", metavar="NAME",
              help="The inventory host holding the backups (@local: this machine); with ha, "
                   "default: the current leader.")
@click.option("--database", metavar="D",
              help="The database whose set to restore (backups.method: pg_dump).")
@click.option("--to-time", metavar="TIME",
              help="backups.method: pgbackrest: restore the whole cluster as it was at TIME "
                   "('2026-11-23 12:00:00+00') into a new cluster (--into names it).")
@click.option("--port", type=click.IntRange(1, 65535), metavar="PORT",
              help="With --to-time: the new cluster's port (default: the next free one).")
@click.option("--from", "from_set", metavar="SET",
              help="Backup set name (see `pgstead backups`); default: the newest good one.")
@click.option("--into", metavar="NEWNAME",
              help="New database to restore into (default: D_restored_<time>), or with "
                   "--to-time the new cluster (default: <cluster>_pitr_<time>); must not exist.")
@click.option("--replace", is_flag=True,
              help="Replace the live database D (a fresh backup of it is taken first).")
@click.option("--keep-old", is_flag=True,
              help="With --replace: keep the previous database under a new name.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before --replace.")
@click.option("--inventory", metavar="INVENTORY",
              help="pyinfra inventory of the hosts (default: FILE's NAME.py beside it, else "
                   "@local).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def restore(file: str, host_name: str | None, database: str | None, to_time: str | None,
            port: int | None, from_set: str | None, into: str | None, replace: bool,
            keep_old: bool, yes: bool, inventory: str | None, output_format: str) -> None:
    """Restore a backup set of database D on host H and report every table's row count.

    Without --replace the set goes into a new database and D is not touched. With --replace,
    D is first backed up, its connections are terminated, and the restored copy takes its
    name; the previous database is dropped only when that fresh backup verified.
    Exit 1 when the restore fails, with the host program's message.

    With backups.method: pgbackrest, --to-time TIME restores the whole cluster as it was at
    TIME into a new cluster and reports its port; the live cluster is not touched.
    """
    if into and replace:
        raise click.UsageError("--into and --replace exclude each other: --into restores into "
                               "a new database, --replace restores over D")
    if keep_old and not replace:
        raise click.UsageError("--keep-old goes with --replace")
    env = load_environment(file, resolve_secrets=False)
    pitr = env.backups.method == "pgbackrest"
    target_time = check_mode(pitr, database, to_time, from_set, replace, port)
    inventory = inventory or default_inventory(file)
    with inventory_hosts(inventory) as hosts:
        if host_name is None:
            host_name = _leader_or_usage(env, hosts)
        if host_name not in hosts.names:
            raise click.BadParameter(f"no host {host_name!r} in inventory {inventory} "
                                     f"(hosts: {', '.join(hosts.names) or 'none'})",
                                     param_hint="--host")
        if target_time is not None:
            restore_to_time(file, env, hosts, host_name, target_time, into, port, output_format)
            return
        if replace and not yes:
            click.confirm(f"Replace database {database!r} on {host_name} with backup set "
                          f"{from_set or '(newest good set)'}? Its current contents are backed "
                          "up first", abort=True, err=True)
        command = program_command(RESTORE_PROGRAM, env.name,
                                  *restore_arguments(database, from_set, into, replace, keep_old))
        try:
            output = hosts.run(host_name, command)
        except HostUnreachable as error:
            raise click.ClickException(str(error)) from None
    printed = json_lines(output.stdout_lines)
    tables = [line for line in printed if "table" in line]
    summary = next((line for line in printed if "restored_from" in line), None)
    if output_format == "json":
        click.echo(json.dumps({"host": host_name, "ok": output.ok, "tables": tables,
                               "summary": summary,
                               "error": None if output.ok else error_message(output)}, indent=2))
    else:
        if tables:
            click.echo("\n".join(describe_tables(tables)))
        if summary:
            click.echo("\n".join(describe_summary(summary, database)))
    if not output.ok:
        # The host program points at its own listing; from here the listing is `pgstead backups`.
        message = error_message(output).replace("(see pgstead-backup --list)",
                                                f"(see `pgstead backups {file}`)")
        click.echo(f"error: restore on {host_name} failed: {message}", err=True)
        raise click.exceptions.Exit(EXIT_FAILURE)
