"""Hardening on the host: the parts that are files and packages, not server parameters.

The parameters come from the same controls through the settings role (pgstead.hardening
feeds pgstead.desired_settings); here: the private log directory outside the data directory,
the postgres OS user's umask, and the packages of the optional controls.
"""

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.operations import files

from pgstead import hardening as controls
from pgstead.config.model import Environment

PROFILE = f"{controls.POSTGRES_HOME}/.bash_profile"


@deploy("Hardening")
def hardening(env: Environment) -> None:
    wanted = controls.packages(env)
    if env.postgres.install != "native":
        if wanted:
            logger.warning(f"{host.name}: a compose install takes {', '.join(wanted)} from its "
                           "image: use an image that has them")
        return
    # The extensions' packages come with the install role's one apt transaction.
    if controls.is_active(env, "log_directory"):
        # Created before the settings role points log_directory here and restarts.
        files.directory(name=f"Log directory {controls.log_directory(env)}",
                        path=controls.log_directory(env), user="postgres", group="postgres",
                        mode="700")
    if controls.is_active(env, "umask"):
        files.file(name=f"{PROFILE} of the postgres user", path=PROFILE, user="postgres",
                   group="postgres", mode="644")
        files.line(name=f"umask 077 for the postgres user ({PROFILE})", path=PROFILE,
                   line=controls.PROFILE_UMASK_LINE)
