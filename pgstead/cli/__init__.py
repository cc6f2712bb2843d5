"""The pgstead command line: one click group; each command lives in its own module here."""

from __future__ import annotations

import click

from pgstead.cli.audit import audit
from pgstead.cli.backups import backups
from pgstead.cli.certs import certs
from pgstead.cli.env import env
from pgstead.cli.failures import ReportingGroup
from pgstead.cli.plan import plan
from pgstead.cli.restore import restore
from pgstead.cli.validate import validate


@click.group(cls=ReportingGroup)
@click.option("--debug", is_flag=True, help="Show a traceback when a command fails.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Declarative PostgreSQL provisioning: one environment YAML, idempotent hosts."""
    ctx.ensure_object(dict)["debug"] = debug


# Commands: one line each.
main.add_command(validate)
main.add_command(certs)
main.add_command(env)
main.add_command(plan)
main.add_command(backups)
main.add_command(restore)
main.add_command(audit)
