"""The files `backups.method: pgbackrest` puts on a host, rendered from the Environment. Pure.

One pgBackRest stanza per native cluster, named after the cluster, with its own file in
pgBackRest's include directory (so several clusters and the package's global file coexist)
and its repository under `backups.dir`. The archive settings that feed it WAL are desired
state: pgstead.desired.archive.
"""

from __future__ import annotations

import shlex

from pgstead.config.model import Backups, Environment

STANZA_CONF_DIR = "/etc/pgbackrest/conf.d"
PITR_PROGRAM = "/usr/local/sbin/pgstead-pgbackrest"
SOCKET_DIR = "/var/run/postgresql"
# pgBackRest's names for the file's compression choices.
COMPRESS_TYPES = {"zstd": "zst", "gzip": "gz", "none": "none"}


def uses_pgbackrest(env: Environment) -> bool:
    return env.backups.enabled and env.backups.method == "pgbackrest"


def stanza_name(env: Environment) -> str:
    return env.postgres.cluster


def stanza_config_path(stanza: str) -> str:
    return f"{STANZA_CONF_DIR}/{stanza}.conf"


def repo_path(backups: Backups) -> str:
    return f"{backups.dir.rstrip('/')}/pgbackrest"


def default_data_directory(env: Environment) -> str:
    """Where pg_createcluster puts a cluster's data (the role reads the live one when it can)."""
    return f"/var/lib/postgresql/{env.postgres.version}/{env.postgres.cluster}"


def render_stanza_config(env: Environment, data_directory: str) -> str:
    """The text of /etc/pgbackrest/conf.d/<stanza>.conf."""
    b = env.backups
    lines = [
        "# Written by pgstead from the backups section; edits are replaced.",
        f"[{stanza_name(env)}]",
        f"pg1-path={data_directory}",
        f"pg1-port={env.postgres.port}",
        f"pg1-socket-path={SOCKET_DIR}",
        f"repo1-path={repo_path(b)}",
        f"repo1-retention-full={b.keep}",
        f"compress-type={COMPRESS_TYPES[b.compression]}",
        f"process-max={b.jobs}",
        # A backup starts at once instead of waiting for the next scheduled checkpoint.
        "start-fast=y",
    ]
    return "\n".join(lines) + "\n"


def render_program_config(env: Environment) -> str:
    """The KEY=value file pgstead-pgbackrest sources (same path as pg_dump's config)."""
    b = env.backups
    lines = [
        "# Written by pgstead; sourced by pgstead-pgbackrest. Edits are replaced.",
        f"ENV={shlex.quote(env.name)}",
        f"STANZA={shlex.quote(stanza_name(env))}",
        f"PG_MAJOR={shlex.quote(str(env.postgres.version))}",
        f"PGPORT={shlex.quote(str(env.postgres.port))}",
        f"BACKUP_DIR={shlex.quote(b.dir)}",
        f"VERIFY={'1' if b.verify else '0'}",
    ]
    return "\n".join(lines) + "\n"
