"""Hardening on the host: the parts that are files and packages, not server parameters.

The parameters come from the same controls through the settings role (pgstead.desired.hardening
feeds pgstead.desired.settings); here: the private log directory outside the data directory,
the postgres OS user's umask, and the packages of the optional controls.
"""

from pyinfra import host, logger
from pyinfra.api import deploy

from pgstead.config.model import Environment
from pgstead.desired import hardening as controls
from pgstead.operations.files import Directory, Entry, Line, managed_files

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
    wanted: list[Entry] = []
    if controls.is_active(env, "log_directory"):
        # Created before the settings role points log_directory here and restarts.
        wanted.append(Directory(controls.log_directory(env), "postgres", "postgres", "700"))
    if controls.is_active(env, "umask"):
        # Only the line is pgstead's: the rest of the profile stays as the admin wrote it.
        wanted.append(Line(PROFILE, controls.PROFILE_UMASK_LINE, "postgres", "postgres"))
    if wanted:
        managed_files(name="Log directory and umask of the postgres user", entries=wanted)
