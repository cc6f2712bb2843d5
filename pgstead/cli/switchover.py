"""`pgstead switchover FILE [--to HOST]`: move the leader on purpose.

Waits until the candidate is a synchronous standby in sync (in synchronous mode Patroni
switches only to one; a candidate that is not is made one for the switchover's duration by
counting every replica synchronous), switches through the REST API with its credentials,
waits for the new leader to answer /primary, and prints how long no member took writes.
Refuses, with the reason, when no candidate is healthy or the named one is not running."""

from __future__ import annotations

import json
import shlex

import click

from pgstead.cli.cluster import cluster_rows
from pgstead.cli.hosts import HostUnreachable, default_inventory, inventory_hosts
from pgstead.render.ha_layout import OPS_PROGRAM, PATRONI_CONFIG


@click.command("switchover")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--to", "candidate", metavar="HOST", default=None,
              help="The member to make leader (default: the synchronous standby).")
@click.option("--inventory", metavar="INVENTORY", default=None,
              help="The cluster's pyinfra inventory (default: NAME.py beside FILE).")
@click.option("--wait", "seconds", type=int, default=60, show_default=True,
              help="Seconds to wait for the candidate to be in sync.")
def switchover(file: str, candidate: str | None, inventory: str | None, seconds: int) -> None:
    """Switch the leader of FILE's HA cluster to another member."""
    inventory = inventory or default_inventory(file)
    rows, _ = cluster_rows(file, inventory)
    leader = next((r for r in rows if r.role == "leader"), None)
    if leader is None:
        raise click.ClickException("the cluster has no leader: nothing to switch over from")
    if candidate is not None:
        row = next((r for r in rows if r.host == candidate), None)
        if row is None:
            raise click.ClickException(f"{candidate} is not a host of the inventory "
                                       f"({', '.join(r.host for r in rows)})")
        if not row.up:
            raise click.ClickException(f"cannot switch over to {candidate}: it is {row.state}")
    command = " ".join([OPS_PROGRAM, PATRONI_CONFIG, "switchover",
                        shlex.quote(candidate or "-"), str(seconds)])
    with inventory_hosts(inventory) as hosts:
        try:
            out = hosts.run(leader.host, command)
        except HostUnreachable as error:
            raise click.ClickException(str(error)) from None
    try:
        result = json.loads("".join(out.stdout_lines))
    except ValueError:
        raise click.ClickException("switchover failed: " + " ".join(out.stderr_lines[-3:])
                                   ) from None
    if not result.get("ok"):
        raise click.ClickException(f"switchover refused: {result.get('reason')}")
    click.echo(f"switched over: {result['from']} -> {result['to']} in {result['seconds']:.1f} s;"
               f" no member took writes for {result['window_seconds']:.1f} s")
