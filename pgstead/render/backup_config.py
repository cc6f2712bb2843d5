"""Render the config file that the host's backup program (pgstead-backup) sources.

The file is bash: `KEY=value` lines, with the database list and the exec prefix as bash
arrays so that names with spaces survive. Every value is quoted with `shlex.quote`.
"""

from __future__ import annotations

import shlex

from pgstead.config.model import Backups

FORMATS = ("custom", "directory", "plain")
COMPRESSIONS = ("zstd", "gzip", "none")
DEFAULT_SOCKET_DIR = "/var/run/postgresql"


def render_backup_config(
    env_name: str,
    backups: Backups,
    *,
    port: int,
    major: int,
    pg_exec: str = "",
    socket_dir: str = DEFAULT_SOCKET_DIR,
    superuser: str = "",
) -> str:
    """Return the text of /etc/pgstead/backup-<env>.conf for one environment.

    + env_name: environment name, recorded in manifests and logs
    + backups: the environment's backup settings
    + port: the port PostgreSQL listens on, as seen by the client tools
    + major: PostgreSQL major version; native client tools live in /usr/lib/postgresql/<major>/bin
    + pg_exec: a command prefix that runs the client tools elsewhere, e.g.
      `docker compose -f /opt/x/compose.yaml exec -T -u postgres postgres`; empty: run natively
    + socket_dir: the server's Unix socket directory, as seen by the client tools
    + superuser: the role the tools connect as; empty: the OS user's name (postgres). A Compose
      image whose POSTGRES_USER is not postgres needs it here.

    Raises ValueError for settings the program cannot carry out.
    """
    _check(backups, port, pg_exec)
    exec_argv = shlex.split(pg_exec)
    if backups.databases is None:
        all_databases, names = "1", ()
    else:
        all_databases, names = "0", backups.databases
    bindir = "" if exec_argv else f"/usr/lib/postgresql/{major}/bin"
    lines = [
        "# Written by pgstead; sourced by pgstead-backup and pgstead-restore. Edits are replaced.",
        f"ENV={shlex.quote(env_name)}",
        f"PGPORT={shlex.quote(str(port))}",
        f"PGHOST={shlex.quote(socket_dir)}",
        f"PG_SUPERUSER={shlex.quote(superuser)}",
        f"PG_EXEC=({_words(exec_argv)})",
        f"PG_BINDIR={shlex.quote(bindir)}",
        f"PG_MAJOR={shlex.quote(str(major))}",
        f"BACKUP_DIR={shlex.quote(backups.dir)}",
        f"DATABASES_ALL={all_databases}",
        f"DATABASES=({_words(names)})",
        f"FORMAT={shlex.quote(backups.format)}",
        f"COMPRESSION={shlex.quote(backups.compression)}",
        f"KEEP={shlex.quote(str(backups.keep))}",
        f"VERIFY={'1' if backups.verify else '0'}",
        f"JOBS={shlex.quote(str(backups.jobs))}",
    ]
    return "\n".join(lines) + "\n"


def _words(words: tuple[str, ...] | list[str]) -> str:
    return " ".join(shlex.quote(w) for w in words)


def _check(backups: Backups, port: int, pg_exec: str) -> None:
    if backups.format not in FORMATS:
        raise ValueError(
            f"backups.format must be one of {', '.join(FORMATS)}, not {backups.format!r}"
        )
    if backups.compression not in COMPRESSIONS:
        raise ValueError(
            f"backups.compression must be one of {', '.join(COMPRESSIONS)}, "
            f"not {backups.compression!r}"
        )
    if backups.keep < 1:
        raise ValueError(f"backups.keep must be at least 1, not {backups.keep}")
    if backups.jobs < 1:
        raise ValueError(f"backups.jobs must be at least 1, not {backups.jobs}")
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is not a TCP port")
    if not backups.dir.startswith("/"):
        raise ValueError(f"backups.dir must be an absolute path, not {backups.dir!r}")
    if backups.databases is not None and not backups.databases:
        raise ValueError("backups.databases is an empty list: name databases or use 'all'")
    # pg_dump -Fd writes a directory itself and pg_restore reads it by path: inside a container
    # that path is not the host's backup directory, so only streamed formats work there.
    if pg_exec.strip() and backups.format == "directory":
        raise ValueError(
            "backups.format: directory is not supported with install: compose "
            "(the container cannot write the host's backup directory); use custom or plain"
        )
