"""Install PostgreSQL packages for the environment's major version."""

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import files

from pgstead.config.model import Environment
from pgstead.operations import packages

# Debian's postgresql packages create a "main" cluster on port 5432 on first install; pgstead
# creates the clusters the file declares, so that default must be off before installing.
CREATECLUSTER_CONF = "create_main_cluster = false\n"


@deploy("Install PostgreSQL")
def install(env: Environment) -> None:
    if env.postgres.install != "native":
        return
    files.directory(name="postgresql-common config dir",
                    path="/etc/postgresql-common/createcluster.d", mode="755")
    files.put(name="Do not create a default cluster on install",
              src=StringIO(CREATECLUSTER_CONF),
              dest="/etc/postgresql-common/createcluster.d/pgstead.conf", mode="644")
    version = env.postgres.version
    packages.installed(name=f"PostgreSQL {version} packages",
                       packages=[f"postgresql-{version}", f"postgresql-client-{version}"])
