"""`pgstead env FILE.yml --user NAME`: how an application connects as a declared user.

Prints DATABASE_URL and DB_* variables (see `pgstead.cli.connection_info`) as a dotenv file, a
JSON object, shell exports, or in the form a platform reads (`pgstead.cli.env_formats`: a
Kubernetes Secret, a Compose env_file, a Cloud Run env-vars file). --host may be a Unix-socket
directory for an app on the database host. The password is masked unless --show-secrets.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import replace
from pathlib import Path

import click

from pgstead.cli.connection_info import ConnectionInfo, ConnectionInfoError, connection_info
from pgstead.cli.driver_hints import DRIVERS, transaction_mode_note
from pgstead.cli.env_formats import (
    FormatError,
    cloud_run_env_vars,
    compose_env_file,
    kubernetes_secret,
)
from pgstead.cli.ha_connection import ha_variables
from pgstead.cli.inventory_state import inventory_hosts_of
from pgstead.config.load import load_environment
from pgstead.config.members import present
from pgstead.config.model import Environment
from pgstead.render.compose import CONTAINER_PORT, SERVICE

FORMATS = ["dotenv", "json", "shell", "k8s-secret", "compose-env", "cloud-run"]

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


def default_secret_name(env_name: str, user_name: str) -> str:
    """ENV-USER-db, lower-cased, with what Kubernetes refuses in a name turned into '-'."""
    return re.sub(r"[^a-z0-9.-]+", "-", f"{env_name}-{user_name}-db".lower()).strip("-.")


def _compose_side(env: Environment, info: ConnectionInfo, host: str | None) -> ConnectionInfo:
    """Inside the Compose project the server is its service, on the container's port."""
    if host is None and env.postgres.install == "compose":
        return replace(info, hosts=(SERVICE,), port=CONTAINER_PORT)
    return info


def _warn_service_name(env: Environment, info: ConnectionInfo) -> None:
    if info.ssl_mode == "verify-full" and info.host == SERVICE \
            and SERVICE not in env.tls.server_names:
        click.echo(f"warning: verify-full to {SERVICE!r} needs that name in the server "
                   f"certificate: add it to tls.server_names in {env.source}", err=True)


@click.command("env")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--user", "user_name", required=True, help="A declared user.")
@click.option("--host", default=None,
              help="Host the application connects to (default: first listen address, "
                   "else localhost; compose-env: the Compose service). A directory such as "
                   "/var/run/postgresql is the Unix socket, for an app on the database host. "
                   "With ha: a comma-separated list of the members.")
@click.option("--inventory", metavar="INVENTORY",
              help="With ha: the pyinfra inventory whose hosts are the cluster's members "
                   "(their ha_address, else ssh address, else name), connecting to none.")
@click.option("--format", "output_format", type=click.Choice(FORMATS),
              default="dotenv", show_default=True)
@click.option("--name", "secret_name", default=None,
              help="k8s-secret: the Secret's name (default: ENV-USER-db).")
@click.option("--namespace", default=None, help="k8s-secret: the Secret's namespace.")
@click.option("--ca-path", default=None,
              help="Where the app finds the CA certificate (default: the controller's copy). "
                   "k8s-secret also carries the CA itself, under the key ca.crt.")
@click.option("--show-secrets", is_flag=True, help="Print the password instead of ********.")
@click.option("--endpoint", metavar="ADDRESS", default=None,
              help="With ha: the address of HAProxy's endpoints (default: ha.vip, else the "
                   "first balancer's address from the inventory).")
@click.option("--driver", type=click.Choice(list(DRIVERS), case_sensitive=False), default=None,
              help="The application's driver: its setting for a transaction-mode pool "
                   "(prepared statements off) is printed, or added to DATABASE_URL.")
def env(file: str, user_name: str, host: str | None, inventory: str | None,
        output_format: str, secret_name: str | None, namespace: str | None,
        ca_path: str | None, show_secrets: bool, driver: str | None,
        endpoint: str | None) -> None:
    """Print connection settings for USER of the environment FILE.

    With ha, DATABASE_URL reaches the leader through HAProxy's leader port and
    DATABASE_URL_READONLY the replicas through its read port (DB_HOST/DB_PORT: the leader
    endpoint); DATABASE_URL_MULTIHOST names every member (host=a,b,c) with
    target_session_attrs read-write (prefer-standby for readonly users).

    With a pooler, DATABASE_URL goes through it and DIRECT_DATABASE_URL to the server itself
    (for migrations); a note on stderr says what a transaction-mode pool asks of the
    application's driver.
    """
    if (secret_name or namespace) and output_format != "k8s-secret":
        raise click.UsageError("--name and --namespace go with --format k8s-secret")
    hosts = inventory_hosts_of(inventory) if inventory else None
    environment = load_environment(file, hosts=hosts)
    hosts = present(hosts) if hosts else None  # a member being removed serves nobody
    members = [h.address for h in hosts or ()]
    try:
        driver = driver.lower() if driver else None
        info = connection_info(environment, user_name, host, members, driver)
    except ConnectionInfoError as error:
        raise click.ClickException(str(error)) from None
    ca_file = info.ssl_root_cert
    if output_format == "compose-env":
        info = _compose_side(environment, info, host)
        _warn_service_name(environment, info)
    if ca_path and info.ssl_root_cert is not None:
        info = replace(info, ssl_root_cert=Path(ca_path))
    try:
        # Members named by --host stand for themselves: without ha.balancers each runs HAProxy.
        named = ([(h.name, h.address) for h in hosts] if hosts else
                 [(address, address) for address in info.hosts])
        variables = (info.variables(show_secrets=show_secrets) if environment.ha is None else
                     ha_variables(environment, info, named, endpoint, show_secrets=show_secrets))
    except ConnectionInfoError as error:
        raise click.ClickException(str(error)) from None
    try:
        if output_format == "k8s-secret":
            files = {"ca.crt": ca_file.read_bytes()} if ca_file and ca_file.is_file() else {}
            text = kubernetes_secret(variables, secret_name or default_secret_name(
                environment.name, user_name), namespace, files)
        elif output_format == "compose-env":
            text = compose_env_file(variables)
        elif output_format == "cloud-run":
            text = cloud_run_env_vars(variables)
        else:
            text = render_variables(variables, output_format)
    except FormatError as error:
        raise click.UsageError(str(error)) from None
    click.echo(text.rstrip("\n"))
    if info.pool_mode == "transaction":
        click.echo(f"note: {transaction_mode_note(driver)}", err=True)
