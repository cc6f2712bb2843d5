"""Install PostgreSQL packages for the environment's major version."""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.server import LinuxDistribution

from pgstead.config.model import Environment
from pgstead.desired import hardening
from pgstead.operations import packages
from pgstead.operations.files import Directory, File, managed_files
from pgstead.postgres.pgdg import PGDG_SOURCES, render_pgdg_sources, uses_pgdg

# Debian's postgresql packages create a "main" cluster on port 5432 on first install; pgstead
# creates the clusters the file declares, so that default must be off before installing.
CREATECLUSTER_CONF = "create_main_cluster = false\n"
BACKUP_PACKAGES = ["cron", "zstd", "gzip"]
# Patroni runs PostgreSQL, etcd (server on its members, client everywhere) is its store.
HA_PACKAGES = ["patroni", "etcd-server", "etcd-client"]


def host_packages(env: Environment) -> list[str]:
    """Every Debian package the environment needs on a host, for one apt transaction."""
    # pyinfra needs setfacl to upload files as another user under _sudo.
    wanted = ["acl"]
    if env.backups.enabled:
        wanted += BACKUP_PACKAGES
        if env.backups.method == "pgbackrest":
            wanted.append("pgbackrest")
    if env.postgres.install == "native":
        version = env.postgres.version
        wanted += [f"postgresql-{version}", f"postgresql-client-{version}",
                   *hardening.packages(env)]
    if env.ha is not None:
        wanted += HA_PACKAGES
    return wanted


@deploy("Install PostgreSQL")
def install(env: Environment) -> None:
    if env.postgres.install != "native":
        packages.installed(name="Host packages", packages=host_packages(env))
        return
    version = env.postgres.version
    createcluster_d = "/etc/postgresql-common/createcluster.d"
    # Before the server package, which creates that default cluster in its postinst.
    wanted = [Directory(createcluster_d),
              File(f"{createcluster_d}/pgstead.conf", CREATECLUSTER_CONF)]
    name = "Do not create a default cluster on install"
    distro = host.get_fact(LinuxDistribution)
    codename = distro["release_meta"].get("VERSION_CODENAME", "")
    if uses_pgdg(env.postgres.repository, distro["name"] or "", codename, version):
        # The source names the key postgresql-common brings: the package comes first.
        packages.installed(name="postgresql-common (carries the PGDG key)",
                           packages=["postgresql-common", "ca-certificates"])
        wanted.append(File(PGDG_SOURCES, render_pgdg_sources(codename, version)))
        name += f"; PGDG apt source for {codename}"
    managed_files(name=name, entries=wanted)
    packages.installed(name=f"PostgreSQL {version} and host packages",
                       packages=host_packages(env))
