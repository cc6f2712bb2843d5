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
# Daemons pgstead runs as instances of its own: their packages must not start a default one.
DAEMON_PACKAGES = ("pgbouncer", "prometheus-postgres-exporter")
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
        if env.pooler.enabled:
            wanted.append("pgbouncer")
        if env.monitoring.exporter:
            wanted.append("prometheus-postgres-exporter")
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
    wanted_packages = host_packages(env)
    packages.installed(name=f"PostgreSQL {version} and host packages", packages=wanted_packages,
                       no_autostart=any(p in DAEMON_PACKAGES for p in wanted_packages))
