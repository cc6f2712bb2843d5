"""The pgstead command line: one click group; each command lives in its own module here,
beside the helpers only the CLI uses (the offline plan, connection info, inventory loading,
the audit runner).

The top layer: it may import everything below it, nothing imports it.
"""

from __future__ import annotations

import importlib

import click

from pgstead.cli.failures import ReportingGroup

# Command name -> module holding a click command of that name. Loaded when the command runs,
# so `pgstead validate` does not pay for pyinfra, gevent and cryptography.
COMMANDS = {
    "validate": "pgstead.cli.validate",
    "plan": "pgstead.cli.plan",
    "env": "pgstead.cli.env",
    "certs": "pgstead.cli.certs",
    "backups": "pgstead.cli.backups",
    "restore": "pgstead.cli.restore",
    "audit": "pgstead.cli.audit",
    "cluster": "pgstead.cli.cluster",
    "switchover": "pgstead.cli.switchover",
    "status": "pgstead.cli.status",
    "import": "pgstead.cli.import_sqlite:import_",  # `import` is a Python keyword
}


class PgsteadGroup(ReportingGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, _, attribute = COMMANDS[name].partition(":")
        return getattr(importlib.import_module(module), attribute or name)


@click.group(cls=PgsteadGroup)
@click.option("--debug", is_flag=True, help="Show a traceback when a command fails.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Declarative PostgreSQL provisioning: one environment YAML, idempotent hosts."""
    ctx.ensure_object(dict)["debug"] = debug
