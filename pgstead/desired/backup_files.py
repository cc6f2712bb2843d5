"""The backup files an environment puts on each host, rendered once for the deploy and the plan."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Protocol

from pgstead.config.model import Environment
from pgstead.render.backup_config import render_backup_config
from pgstead.render.cron import backup_config_path, cron_file_path, render_cron_entry
from pgstead.render.pgbackrest import PITR_PROGRAM, render_program_config, uses_pgbackrest


class ServedBy(Protocol):
    """What the backup files need to know of the server's mode (a pgstead.server `Server`)."""

    @property
    def native(self) -> bool: ...

    @property
    def socket_port(self) -> int: ...

    exec_prefix: tuple[str, ...]


@dataclass(frozen=True)
class BackupFiles:
    run_as: str  # the user cron runs the program as, and who owns the backup directory
    config_path: str
    config: str
    cron_path: str
    cron: str


def backup_files(env: Environment, server: ServedBy) -> BackupFiles:
    if uses_pgbackrest(env):
        return BackupFiles(
            run_as="postgres",
            config_path=backup_config_path(env.name),
            config=render_program_config(env),
            cron_path=cron_file_path(env.name),
            cron=render_cron_entry(env.name, env.backups.schedule, program=PITR_PROGRAM),
        )
    # A container's client tools run through its exec prefix, which needs root to reach the
    # engine; the dumps then land in the host directory as root's. The host may have no
    # postgres user at all.
    run_as = "postgres" if server.native else "root"
    config = render_backup_config(env.name, env.backups, port=server.socket_port,
                                  major=env.postgres.version,
                                  pg_exec=shlex.join(server.exec_prefix))
    return BackupFiles(
        run_as=run_as,
        config_path=backup_config_path(env.name),
        config=config,
        cron_path=cron_file_path(env.name),
        cron=render_cron_entry(env.name, env.backups.schedule, run_as=run_as),
    )
