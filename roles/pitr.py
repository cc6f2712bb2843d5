"""Point-in-time recovery with pgBackRest (`backups.method: pgbackrest`), on a native cluster or
every member of a Patroni cluster: the stanza's config, repository and program (pitr_files,
before Patroni starts), then the stanza itself and the schedule (pitr, with the backups).
WAL archiving itself is a server parameter, set by the settings role (under Patroni, in its
dynamic configuration)."""

from pyinfra import host, logger
from pyinfra.api import deploy

from pgstead import PROJECT_ROOT
from pgstead.config.model import Environment
from pgstead.desired.backup_files import backup_files
from pgstead.facts.cluster import PgClusters
from pgstead.facts.pgbackrest import PgBackRestStanzaRepos
from pgstead.operations import pgbackrest, service
from pgstead.operations.files import Directory, File, managed_files
from pgstead.render.cron import MESSAGES_LIBRARY
from pgstead.render.pgbackrest import (
    MAIN_CONFIG,
    PITR_PROGRAM,
    STANZA_CONF_DIR,
    WRITTEN_BY,
    default_data_directory,
    global_repo,
    render_main_config,
    render_stanza_config,
    repo_path,
    stanza_config_path,
    stanza_name,
    uses_pgbackrest,
)
from pgstead.server.select import server_for

HOST_FILES = PROJECT_ROOT / "pgstead" / "data" / "host"


def _data_directory(env: Environment) -> str:
    pg = env.postgres
    live = next((c for c in host.get_fact(PgClusters)
                 if (c.version, c.name) == (pg.version, pg.cluster)), None)
    return live.data_directory if live else default_data_directory(env)


def _global_repo(stanza: str, repo: str) -> str:
    """The repository [global] names: shared with the host's other pgstead stanzas (other
    environments' clusters) when they agree, else the one most of them use."""
    repos = {**host.get_fact(PgBackRestStanzaRepos, conf_dir=STANZA_CONF_DIR,
                             written_by=WRITTEN_BY), stanza: repo}
    chosen = global_repo(repos)
    elsewhere = sorted(name for name, path in repos.items() if path != chosen)
    if elsewhere:
        logger.warning(f"{host.name}: the pgBackRest stanzas of this host keep their "
                       f"repositories apart; `pgbackrest info` without --stanza lists those in "
                       f"{chosen}, not {', '.join(elsewhere)} (give --stanza=NAME)")
    return chosen


@deploy("pgBackRest config and repository")
def pitr_files(env: Environment) -> None:
    """Before Patroni starts a member: its archive_command and (ha.replica_method: pgbackrest)
    its first restore already read these files."""
    if not uses_pgbackrest(env):
        return
    b = env.backups
    stanza = stanza_name(env)
    repo = repo_path(b)
    planned = backup_files(env, server_for(env))
    managed_files(name=f"pgBackRest stanza config and repository {repo}", entries=[
        File(MESSAGES_LIBRARY, HOST_FILES / "pgstead-messages"),
        File(PITR_PROGRAM, HOST_FILES / "pgstead-pgbackrest", mode="755"),
        Directory("/etc/pgbackrest"),
        Directory(STANZA_CONF_DIR),
        File(stanza_config_path(stanza), render_stanza_config(env, _data_directory(env)),
             group="postgres", mode="640"),
        File(MAIN_CONFIG, render_main_config(_global_repo(stanza, repo)), group="postgres",
             mode="640"),
        Directory(b.dir, "postgres", "postgres", "750"),
        Directory(repo, "postgres", "postgres", "750"),
        Directory("/etc/pgstead"),
        File(planned.config_path, planned.config, group="postgres", mode="640"),
    ])


@deploy("Point-in-time backups (pgBackRest)")
def pitr(env: Environment) -> None:
    """The stanza and the schedule; the files are pitr_files'."""
    b = env.backups
    stanza = stanza_name(env)
    # cron and pgbackrest come with the install role's one apt transaction.
    service.running(name="cron runs", service="cron")
    server = server_for(env)
    planned = backup_files(env, server)
    pgbackrest.stanza(name=f"pgBackRest stanza {stanza}", stanza=stanza, repo_path=repo_path(b),
                      server=server, program_config=planned.config_path)
    managed_files(name=f"Backup schedule ({b.schedule})", entries=[
        # Last: cron may run the program as soon as the schedule is there.
        File(planned.cron_path, planned.cron),
    ])
