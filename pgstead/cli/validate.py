"""`pgstead validate FILE.yml`: report every problem of an environment file, or say it is ok."""

from __future__ import annotations

import click

from pgstead.cli.checks import check_environment
from pgstead.cli.failures import EXIT_BAD_INPUT, echo_findings
from pgstead.cli.inventory_state import inventory_hosts_of


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--no-secrets", is_flag=True,
              help="Do not read env/file secrets or generate passwords (for CI without secrets).")
@click.option("--inventory", metavar="INVENTORY",
              help="Also check FILE against this pyinfra inventory's hosts (with ha: their "
                   "count and names), connecting to none.")
@click.pass_context
def validate(ctx: click.Context, file: str, no_secrets: bool, inventory: str | None) -> None:
    """Check FILE against the schema and pgstead's rules, touching no host.

    Exit 0 when the file is good (warnings may be printed), 2 when it has problems.
    """
    hosts = inventory_hosts_of(inventory) if inventory else None
    report = check_environment(file, resolve_secrets=not no_secrets, hosts=hosts)
    echo_findings(report)
    if report.environment is None:
        click.echo(f"{file}: {_count(len(report.errors), 'problem')}", err=True)
        ctx.exit(EXIT_BAD_INPUT)
    env = report.environment
    click.echo(f"ok: {file} ({_count(len(env.databases), 'database')}, "
               f"{_count(len(env.users), 'user')})")
