"""The files `backups.method: pgbackrest` puts on a host, rendered from the Environment. Pure.

One pgBackRest stanza per native cluster, named after the cluster, with its own file in
pgBackRest's include directory (so several clusters coexist) and its repository under
`backups.dir`. The archive settings that feed it WAL are desired state:
pgstead.desired.archive.

pgBackRest's main config holds the repository in [global] too, so that an operator's plain
`pgbackrest info` (no --stanza) lists the stanzas instead of "No stanzas exist". pgstead owns
that file, /etc/pgbackrest/pgbackrest.conf: pgBackRest reads it in place of Debian's older
/etc/pgbackrest.conf. A stanza's own section keeps its repo1-path, so each stanza works
whatever [global] says; when the clusters of one host keep their repositories apart, [global]
names the one most of them share (`global_repo`) and the others need --stanza.
"""

from __future__ import annotations

import shlex
from collections import Counter

from pgstead.config.model import Backups, Environment
from pgstead.render.cron import backup_config_path
from pgstead.render.ha_layout import data_directory as patroni_data_directory

STANZA_CONF_DIR = "/etc/pgbackrest/conf.d"
MAIN_CONFIG = "/etc/pgbackrest/pgbackrest.conf"
# The first line of every file pgstead writes for pgBackRest: how its stanza files are known.
WRITTEN_BY = "# Written by pgstead from the backups section; edits are replaced."
PITR_PROGRAM = "/usr/local/sbin/pgstead-pgbackrest"
SOCKET_DIR = "/var/run/postgresql"
# pgBackRest's names for the file's compression choices.
COMPRESS_TYPES = {"zstd": "zst", "gzip": "gz", "none": "none"}


def uses_pgbackrest(env: Environment) -> bool:
    return env.backups.enabled and env.backups.method == "pgbackrest"


def stanza_name(env: Environment) -> str:
    """The cluster's name: postgres.cluster, or under Patroni its scope (one stanza for every
    member, so that a new leader archives and backs up where the old one did)."""
    return (env.ha.scope or env.name) if env.ha is not None else env.postgres.cluster


def stanza_config_path(stanza: str) -> str:
    return f"{STANZA_CONF_DIR}/{stanza}.conf"


def repo_path(backups: Backups) -> str:
    return f"{backups.dir.rstrip('/')}/pgbackrest"


def default_data_directory(env: Environment) -> str:
    """Where pg_createcluster (or, under Patroni, the member's Patroni file) puts a cluster's
    data; the role reads a native cluster's live one when it can."""
    if env.ha is not None:
        return patroni_data_directory(env.postgres.version, stanza_name(env))
    return f"/var/lib/postgresql/{env.postgres.version}/{env.postgres.cluster}"


def replica_command(env: Environment) -> str:
    """What Patroni runs to create a replica from the stanza (ha.replica_method: pgbackrest):
    pgstead-pgbackrest restores the newest backup into the member's empty data directory."""
    return f"{PITR_PROGRAM} --config {shlex.quote(backup_config_path(env.name))} --create-replica"


def restore_command(env: Environment) -> str:
    """A replica's restore_command under Patroni: WAL the leader no longer keeps comes from the
    stanza's archive."""
    return f'pgbackrest --stanza={shlex.quote(stanza_name(env))} archive-get %f "%p"'


def render_stanza_config(env: Environment, data_directory: str) -> str:
    """The text of /etc/pgbackrest/conf.d/<stanza>.conf."""
    b = env.backups
    lines = [
        WRITTEN_BY,
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


def global_repo(repos: dict[str, str]) -> str:
    """The repository [global] names, from {stanza: repo1-path} of the host's pgstead stanzas:
    the one most of them share, the first by path on a tie, so every environment applied to the
    host picks the same one."""
    counts = Counter(repos.values())
    most = max(counts.values())
    return min(repo for repo, count in counts.items() if count == most)


def render_main_config(repo: str) -> str:
    """The text of pgBackRest's main config: the repository for commands without --stanza."""
    return "\n".join([
        WRITTEN_BY,
        "# The repository that `pgbackrest info` (no --stanza) lists. Each stanza's own file in",
        f"# {STANZA_CONF_DIR} names its repository too; options of your own for every stanza",
        "# belong in a file of your own there. pgBackRest reads this file instead of",
        "# /etc/pgbackrest.conf.",
        "[global]",
        f"repo1-path={repo}",
    ]) + "\n"


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
