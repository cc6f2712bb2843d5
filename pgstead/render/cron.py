"""The /etc/cron.d entry that runs an environment's backups."""

from __future__ import annotations

import shlex

BACKUP_PROGRAM = "/usr/local/sbin/pgstead-backup"
RESTORE_PROGRAM = "/usr/local/sbin/pgstead-restore"
# Sourced by the programs from their own directory, so it lives beside them.
MESSAGES_LIBRARY = "/usr/local/sbin/pgstead-messages"


def backup_config_path(env_name: str) -> str:
    return f"/etc/pgstead/backup-{env_name}.conf"


def cron_file_path(env_name: str) -> str:
    # cron ignores files in /etc/cron.d whose names hold a dot.
    return f"/etc/cron.d/pgstead-backup-{env_name.replace('.', '-')}"


def backup_command(env_name: str, program: str = BACKUP_PROGRAM) -> str:
    """The exact command cron runs (tests run it too)."""
    return f"{program} --config {shlex.quote(backup_config_path(env_name))}"


def render_cron_entry(env_name: str, schedule: str, run_as: str = "postgres",
                      program: str = BACKUP_PROGRAM) -> str:
    return (
        "# Managed by pgstead: edits are overwritten.\n"
        "SHELL=/bin/sh\n"
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
        f"{schedule} {run_as} {backup_command(env_name, program)} >/dev/null 2>&1\n"
    )
