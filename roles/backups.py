"""Scheduled, verified backups: the host program, its config and a cron entry."""

import shlex
from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import files

from pgstead import PROJECT_ROOT
from pgstead.backup_config import render_backup_config
from pgstead.config.model import Environment
from pgstead.cron_entry import (
    BACKUP_PROGRAM,
    RESTORE_PROGRAM,
    backup_config_path,
    cron_file_path,
    render_cron_entry,
)
from pgstead.operations import packages, service
from pgstead.servers import server_for

HOST_FILES = PROJECT_ROOT / "pgstead" / "data" / "host"


@deploy("Backups")
def backups(env: Environment) -> None:
    cron_file = cron_file_path(env.name)
    if not env.backups.enabled:
        files.file(name="No backup schedule", path=cron_file, present=False)
        return
    b = env.backups
    packages.installed(name="Backup tools", packages=["cron", "zstd", "gzip"])
    service.running(name="cron runs", service="cron")
    for program, source in ((BACKUP_PROGRAM, "pgstead-backup"),
                            (RESTORE_PROGRAM, "pgstead-restore")):
        files.put(name=f"Install {program}", src=str(HOST_FILES / source), dest=program,
                  user="root", group="root", mode="755")
    files.directory(name="/etc/pgstead", path="/etc/pgstead", user="root", group="root",
                    mode="755")
    pg = server_for(env)
    # A container's client tools run through its exec prefix, which needs root to reach the
    # engine; the dumps then land in the host directory as root's. The host may have no
    # postgres user at all.
    runs_as = "postgres" if pg.native else "root"
    config = render_backup_config(env.name, b, port=pg.socket_port, major=env.postgres.version,
                                  pg_exec=shlex.join(pg.exec_prefix))
    files.put(name=f"Backup config {backup_config_path(env.name)}", src=StringIO(config),
              dest=backup_config_path(env.name), user="root", group=runs_as, mode="640")
    files.directory(name=f"Backup directory {b.dir}", path=b.dir, user=runs_as,
                    group=runs_as, mode="750")
    files.put(name=f"Schedule backups ({b.schedule})",
              src=StringIO(render_cron_entry(env.name, b.schedule, run_as=runs_as)),
              dest=cron_file, user="root", group="root", mode="644")
