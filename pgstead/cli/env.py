"""`pgstead env FILE.yml --user NAME`: how an application connects as a declared user.

Prints DATABASE_URL and DB_* variables (see `pgstead.cli.connection_info`) as a dotenv file, a
JSON object or shell exports. The password is masked unless --show-secrets is given.
"""

from __future__ import annotations

import json
import re
import shlex

import click

from pgstead.cli.connection_info import ConnectionInfoError, connection_info
from pgstead.cli.ha_connection import ha_variables
from pgstead.cli.inventory_state import inventory_hosts_of
from pgstead.config.load import load_environment

# Values a dotenv reader takes literally without quotes.
_DOTENV_BARE = re.compile(r"^[A-Za-z0-9_./:@%+,=?&*-]*$")


def _dotenv_value(value: str) -> str:
    if _DOTENV_BARE.match(value):
        return value
    if "'" not in value and "\n" not in value:
        return f"'{value}'"  # single quotes: no escapes, no interpolation
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
               .replace("\n", "\\n"))
    return f'"{escaped}"'


def render_variables(variables: dict[str, str], output_format: str) -> str:
    if output_format == "json":
        return json.dumps(variables, indent=2)
    if output_format == "shell":
        return "\n".join(f"export {key}={shlex.quote(value)}" for key, value in variables.items())
    return "\n".join(f"{key}={_dotenv_value(value)}" for key, value in variables.items())


@click.command("env")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--user", "user_name", required=True, help="A declared user.")
@click.option("--host", default=None,
              help="Host the application connects to (default: first listen address, "
                   "else localhost). With ha: a comma-separated list of the members.")
@click.option("--inventory", metavar="INVENTORY",
              help="With ha: the pyinfra inventory whose hosts are the cluster's members "
                   "(their ha_address, else ssh address, else name), connecting to none.")
@click.option("--format", "output_format", type=click.Choice(["dotenv", "json", "shell"]),
              default="dotenv", show_default=True)
@click.option("--show-secrets", is_flag=True, help="Print the password instead of ********.")
@click.option("--endpoint", metavar="ADDRESS", default=None,
              help="With ha: the address of HAProxy's endpoints (default: the first "
                   "balancer's address from the inventory).")
def env(file: str, user_name: str, host: str | None, inventory: str | None,
        output_format: str, show_secrets: bool, endpoint: str | None) -> None:
    """Print connection settings for USER of the environment FILE.

    With ha, DATABASE_URL reaches the leader through HAProxy's leader port and
    DATABASE_URL_READONLY the replicas through its read port (DB_HOST/DB_PORT: the leader
    endpoint); DATABASE_URL_MULTIHOST names every member (host=a,b,c) with
    target_session_attrs read-write (prefer-standby for readonly users).
    """
    hosts = inventory_hosts_of(inventory) if inventory else None
    environment = load_environment(file, hosts=hosts)
    members = [h.address for h in hosts or ()]
    try:
        info = connection_info(environment, user_name, host, members)
        variables = (info.variables(show_secrets=show_secrets) if environment.ha is None else
                     ha_variables(environment, info, [(h.name, h.address) for h in hosts or ()],
                                  endpoint, show_secrets=show_secrets))
    except ConnectionInfoError as error:
        raise click.ClickException(str(error)) from None
    click.echo(render_variables(variables, output_format))
