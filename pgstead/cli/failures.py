"""How every pgstead command fails: located problems for bad files, one line otherwise.

A traceback appears only with the group's --debug option.
"""

from __future__ import annotations

from typing import Any

import click

from pgstead.config.errors import ConfigError
from pgstead.config.load import Report

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1


class ReportingGroup(click.Group):
    """A click group that turns exceptions from its commands into short messages."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except ConfigError as error:
            if ctx.params.get("debug"):
                raise
            for problem in error.problems:
                click.echo(str(problem), err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except Exception as error:
            if ctx.params.get("debug"):
                raise
            click.echo(f"error: {error.__class__.__name__}: {error}", err=True)
            click.echo("(run `pgstead --debug ...` for a traceback)", err=True)
            ctx.exit(EXIT_FAILURE)


def echo_findings(report: Report) -> None:
    """Every problem, then every warning, on stderr: one located line each."""
    for problem in report.errors:
        click.echo(str(problem), err=True)
    for problem in report.warnings:
        click.echo(f"warning: {problem}", err=True)
