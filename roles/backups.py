"""Scheduled, verified backups: the host program, its config and a cron entry."""

from pyinfra.api import deploy

from pgstead import PROJECT_ROOT
from pgstead.config.model import Environment
from pgstead.desired.backup_files import backup_files
from pgstead.operations import service
from pgstead.operations.files import Absent, Directory, File, managed_files
from pgstead.render.cron import (
    BACKUP_PROGRAM,
    MESSAGES_LIBRARY,
    RESTORE_PROGRAM,
    cron_file_path,
)
from pgstead.server.select import server_for
from roles.pitr import pitr

HOST_FILES = PROJECT_ROOT / "pgstead" / "data" / "host"


@deploy("Backups")
def backups(env: Environment) -> None:
    cron_file = cron_file_path(env.name)
    if not env.backups.enabled:
        managed_files(name="No backup schedule", entries=[Absent(cron_file)])
        return
    if env.backups.method == "pgbackrest":
        pitr(env)
        return
    b = env.backups
    # cron, zstd and gzip come with the install role's one apt transaction.
    service.running(name="cron runs", service="cron")
    planned = backup_files(env, server_for(env))
    managed_files(name=f"Backup programs, config, directory and schedule ({b.schedule})", entries=[
        File(MESSAGES_LIBRARY, HOST_FILES / "pgstead-messages"),
        File(BACKUP_PROGRAM, HOST_FILES / "pgstead-backup", mode="755"),
        File(RESTORE_PROGRAM, HOST_FILES / "pgstead-restore", mode="755"),
        Directory("/etc/pgstead"),
        File(planned.config_path, planned.config, group=planned.run_as, mode="640"),
        Directory(b.dir, planned.run_as, planned.run_as, "750"),
        # Last: cron may run the program as soon as the schedule is there.
        File(planned.cron_path, planned.cron),
    ])
