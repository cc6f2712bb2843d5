"""Point-in-time recovery with pgBackRest (`backups.method: pgbackrest`), native clusters only:
the stanza's config and repository, the stanza itself, the backup program and its schedule.
WAL archiving itself is a server parameter, set by the settings role."""

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files

from pgstead import PROJECT_ROOT
from pgstead.backup_files import backup_files
from pgstead.config.model import Environment
from pgstead.facts.cluster import PgClusters
from pgstead.operations import pgbackrest, service
from pgstead.pgbackrest_config import (
    PITR_PROGRAM,
    STANZA_CONF_DIR,
    default_data_directory,
    render_stanza_config,
    repo_path,
    stanza_config_path,
    stanza_name,
)
from pgstead.servers import server_for

HOST_PROGRAM = PROJECT_ROOT / "pgstead" / "data" / "host" / "pgstead-pgbackrest"


def _data_directory(env: Environment) -> str:
    pg = env.postgres
    live = next((c for c in host.get_fact(PgClusters)
                 if (c.version, c.name) == (pg.version, pg.cluster)), None)
    return live.data_directory if live else default_data_directory(env)


@deploy("Point-in-time backups (pgBackRest)")
def pitr(env: Environment) -> None:
    b = env.backups
    stanza = stanza_name(env)
    repo = repo_path(b)
    # cron and pgbackrest come with the install role's one apt transaction.
    service.running(name="cron runs", service="cron")
    files.put(name=f"Install {PITR_PROGRAM}", src=str(HOST_PROGRAM), dest=PITR_PROGRAM,
              user="root", group="root", mode="755")
    for directory in ("/etc/pgbackrest", STANZA_CONF_DIR, "/etc/pgstead"):
        files.directory(name=directory, path=directory, user="root", group="root", mode="755")
    conf = stanza_config_path(stanza)
    files.put(name=f"pgBackRest stanza config {conf}",
              src=StringIO(render_stanza_config(env, _data_directory(env))),
              dest=conf, user="root", group="postgres", mode="640")
    for directory in (b.dir, repo):
        files.directory(name=f"Backup directory {directory}", path=directory, user="postgres",
                        group="postgres", mode="750")
    pgbackrest.stanza(name=f"pgBackRest stanza {stanza}", stanza=stanza, repo_path=repo,
                      server=server_for(env))
    planned = backup_files(env)
    files.put(name=f"Backup config {planned.config_path}", src=StringIO(planned.config),
              dest=planned.config_path, user="root", group="postgres", mode="640")
    files.put(name=f"Schedule backups ({b.schedule})", src=StringIO(planned.cron),
              dest=planned.cron_path, user="root", group="root", mode="644")
