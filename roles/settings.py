"""Server parameters: tuning, secure baseline, TLS and the file's explicit settings."""

from pyinfra import host
from pyinfra.api import deploy

from pgstead.config.model import Environment
from pgstead.desired.settings import desired_settings
from pgstead.facts.cluster import Resources
from pgstead.operations import settings as settings_ops
from pgstead.server.select import server_for


@deploy("PostgreSQL settings")
def settings(env: Environment) -> None:
    server = server_for(env)
    wanted = desired_settings(env, host.get_fact(Resources), server.config_dir)
    settings_ops.parameters(
        name=f"Parameters of {server} ({len(wanted)} declared)",
        server=server, settings=wanted, restart_policy=env.postgres.restart_policy,
    )
