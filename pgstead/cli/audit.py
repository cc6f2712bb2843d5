"""`pgstead audit FILE.yml`: check each host's live state against the hardening controls.

One line per control: its name, pass/fail/skip, the live value and, on failure, the fix.
Exit 0 when every applied control passes, 1 when one fails or a host cannot be read (so CI
or cron can alert on drift), 2 for a bad file.
"""

from __future__ import annotations

import click

from pgstead.cli.audit_runner import LOCAL_HOST, as_json, as_text, audit_inventory, audit_local
from pgstead.cli.failures import EXIT_FAILURE
from pgstead.config.load import load_environment


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--host", "only_host", metavar="NAME",
              help="Only this inventory host (without --inventory: @local, this machine).")
@click.option("--inventory", metavar="INVENTORY",
              help="Read the hosts of this pyinfra inventory over their connectors "
                   "(default: this machine, @local).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: one document for machines.")
@click.pass_context
def audit(ctx: click.Context, file: str, only_host: str | None, inventory: str | None,
          fmt: str) -> None:
    """Check the live state of FILE's hosts against pgstead's hardening baseline.

    Reads the server (pg_settings, pg_hba_file_rules, pg_authid, pg_roles) and the files (log
    directory and file modes, the postmaster's and the postgres user's umask), never the
    YAML's own values: it shows what pgstead set and what was changed by hand since.
    """
    env = load_environment(file, resolve_secrets=False)
    if inventory:
        audits = audit_inventory(env, inventory, only_host)
        if only_host and not audits:
            raise click.BadParameter(f"no host {only_host!r} in {inventory}",
                                     param_hint="--host")
    else:
        if only_host and only_host != LOCAL_HOST:
            raise click.BadParameter(f"{only_host!r} needs --inventory (without it only "
                                     f"{LOCAL_HOST} is audited)", param_hint="--host")
        audits = [audit_local(env)]
    if env.hardening.level == "off" and fmt == "text":
        click.echo(f"note: {file} has hardening level off; judged against the baseline")
    click.echo(as_json(audits) if fmt == "json" else as_text(audits))
    if not all(a.passed for a in audits):
        ctx.exit(EXIT_FAILURE)
