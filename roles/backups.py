"""Scheduled, verified backups: the host program, its config and a cron entry."""

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import files

from pgstead import PROJECT_ROOT
from pgstead.backup_files import backup_files
from pgstead.config.model import Environment
from pgstead.cron_entry import (
    BACKUP_PROGRAM,
    RESTORE_PROGRAM,
    cron_file_path,
)
from pgstead.operations import service
from roles.pitr import pitr

HOST_FILES = PROJECT_ROOT / "pgstead" / "data" / "host"


@deploy("Backups")
def backups(env: Environment) -> None:
    cron_file = cron_file_path(env.name)
    if not env.backups.enabled:
        files.file(name="No backup schedule", path=cron_file, present=False)
        return
    if env.backups.method == "pgbackrest":
        pitr(env)
        return
    b = env.backups
    # cron, zstd and gzip come with the install role's one apt transaction.
    service.running(name="cron runs", service="cron")
    for program, source in ((BACKUP_PROGRAM, "pgstead-backup"),
                            (RESTORE_PROGRAM, "pgstead-restore")):
        files.put(name=f"Install {program}", src=str(HOST_FILES / source), dest=program,
                  user="root", group="root", mode="755")
    files.directory(name="/etc/pgstead", path="/etc/pgstead", user="root", group="root",
                    mode="755")
    planned = backup_files(env)
    files.put(name=f"Backup config {planned.config_path}", src=StringIO(planned.config),
              dest=planned.config_path, user="root", group=planned.run_as, mode="640")
    files.directory(name=f"Backup directory {b.dir}", path=b.dir, user=planned.run_as,
                    group=planned.run_as, mode="750")
    files.put(name=f"Schedule backups ({b.schedule})", src=StringIO(planned.cron),
              dest=planned.cron_path, user="root", group="root", mode="644")
