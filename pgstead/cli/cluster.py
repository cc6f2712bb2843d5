"""`pgstead cluster FILE`: one line per member of an HA cluster, from Patroni's REST API on
each member (over SSH, as a deploy reaches the hosts). Exit 1 when the cluster has no leader
or a member is down, naming it; a warning, without changing the exit code, when a
synchronous cluster has no synchronous standby."""

from __future__ import annotations

import json

import click

from pgstead.cli.ha_members import MemberRow, problems, read_members, warnings
from pgstead.cli.hosts import default_inventory, inventory_hosts
from pgstead.cli.inventory_state import inventory_hosts_of
from pgstead.config.load import load_environment

COLUMNS = ("host", "address", "role", "state", "timeline", "lag_bytes", "lag_seconds",
           "pending_restart", "sync")


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def render_table(rows: list[MemberRow]) -> str:
    cells = [COLUMNS] + [tuple(_cell(getattr(r, c)) for c in COLUMNS) for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip()
                     for line in cells)


def cluster_rows(file: str, inventory: str | None) -> tuple[list[MemberRow], str]:
    """The members' rows and the file's synchronous mode."""
    inventory = inventory or default_inventory(file)
    members = inventory_hosts_of(inventory)
    environment = load_environment(file, hosts=members)
    if environment.ha is None:
        raise click.ClickException(f"{file} has no ha section: it is not a cluster")
    with inventory_hosts(inventory) as hosts:
        rows = read_members(hosts, {m.name: m.address for m in members})
    return rows, environment.ha.synchronous


@click.command("cluster")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--inventory", metavar="INVENTORY", default=None,
              help="The cluster's pyinfra inventory (default: NAME.py beside FILE).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]),
              default="text", show_default=True)
@click.pass_context
def cluster(ctx: click.Context, file: str, inventory: str | None, output_format: str) -> None:
    """Show each member of the HA cluster of FILE: role, state, timeline, lag, pending
    restart, synchronous or not. Exit 1 when there is no leader or a member is down."""
    rows, synchronous = cluster_rows(file, inventory)
    wrong = problems(rows)
    weak = warnings(rows, synchronous)
    if output_format == "json":
        click.echo(json.dumps({"members": [r.as_dict() for r in rows], "problems": wrong,
                               "warnings": weak}, indent=2))
    else:
        click.echo(render_table(rows))
        for problem in wrong:
            click.echo(f"problem: {problem}", err=True)
        for warning in weak:
            click.echo(f"warning: {warning}", err=True)
    if wrong:
        ctx.exit(1)
