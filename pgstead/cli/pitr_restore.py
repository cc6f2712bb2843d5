"""`pgstead restore FILE --host H --to-time TIME` for `backups.method: pgbackrest`: the cluster as
it was at TIME, restored from the stanza's backups and archived WAL into a NEW cluster.

Runs `pgstead-pgbackrest --restore-to-time` on the host; the live cluster is never touched.
"""

from __future__ import annotations

import json
from datetime import datetime

import click

from pgstead.cli.failures import EXIT_FAILURE
from pgstead.cli.host_program import error_message, json_lines, program_command
from pgstead.cli.hosts import HostUnreachable, InventoryHosts
from pgstead.config.model import Environment
from pgstead.render.pgbackrest import PITR_PROGRAM


def checked_time(text: str) -> str:
    """TIME as given, once it reads as an ISO date and time with a UTC offset."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a time such as '2026-11-23 12:00:00+00'",
                                 param_hint="--to-time") from None
    if moment.tzinfo is None:
        raise click.BadParameter(f"{text!r} has no UTC offset: add one (+00 for UTC), so the "
                                 "time cannot be read in the wrong zone", param_hint="--to-time")
    return text.strip()


def restore_arguments(to_time: str, into: str | None, port: int | None) -> list[str]:
    args = ["--restore-to-time", to_time]
    if into:
        args += ["--into", into]
    if port is not None:
        args += ["--port", str(port)]
    return args


def describe(cluster: dict) -> list[str]:
    version, name = cluster["version"], cluster["cluster"]
    return [f"restored {cluster['stanza']} as of {cluster['target_time']} into new cluster "
            f"{version}/{name}, port {cluster['port']} (data {cluster['data_directory']})",
            "the live cluster was not touched; drop the copy when done: "
            f"pg_dropcluster --stop {version} {name}"]


def restore_to_time(file: str, env: Environment, hosts: InventoryHosts, host_name: str,
                    to_time: str, into: str | None, port: int | None,
                    output_format: str) -> None:
    command = program_command(PITR_PROGRAM, env.name, *restore_arguments(to_time, into, port))
    try:
        output = hosts.run(host_name, command)
    except HostUnreachable as error:
        raise click.ClickException(str(error)) from None
    cluster = next((line for line in json_lines(output.stdout_lines) if "cluster" in line), None)
    if output_format == "json":
        click.echo(json.dumps({"host": host_name, "ok": output.ok, "cluster": cluster,
                               "error": None if output.ok else error_message(output)}, indent=2))
    elif cluster:
        click.echo("\n".join(describe(cluster)))
    if not output.ok:
        click.echo(f"error: point-in-time restore on {host_name} failed: "
                   f"{error_message(output)} (see `pgstead backups {file}`)", err=True)
        raise click.exceptions.Exit(EXIT_FAILURE)
