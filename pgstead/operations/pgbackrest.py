"""pgBackRest stanzas: created once per cluster, then checked end to end."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation

from pgstead.facts.pgbackrest import PgBackRestStanza, pgbackrest_command
from pgstead.operations.plan_notes import plan_note
from pgstead.postgres.sql import render
from pgstead.render.pgbackrest import PITR_PROGRAM
from pgstead.server.psql import Server, psql_query


@operation()
def stanza(stanza: str, repo_path: str, server: Server, program_config: str):
    """
    Ensure a pgBackRest stanza exists in its repository, and check it once created.

    + stanza: the stanza's name, as in its /etc/pgbackrest/conf.d file
    + repo_path: the repository the stanza's config names (repo1-path)
    + server: the cluster the stanza backs up
    + program_config: pgstead-pgbackrest's config, for a Patroni member

    ``check`` forces a WAL switch and waits for the segment in the repository, so it proves
    archiving works; it runs when archive_mode is on already (under ``restart_policy: never``
    it waits for the restart that turns it on).

    On a Patroni member the leader is known only when the command runs (it may move after the
    plan), so pgstead-pgbackrest decides there: the primary creates and checks the stanza, a
    replica waits until it sees it in the repository every member shares, and fails saying so
    when it never does.

    **Example:**

    .. code:: python

        pgbackrest.stanza(stanza="main", repo_path="/var/backups/pgstead/pgbackrest",
                          server=Server(15, "main", 5432),
                          program_config="/etc/pgstead/backup-prod.conf")
    """
    info = host.get_fact(PgBackRestStanza, stanza=stanza, repo_path=repo_path)
    if info is not None and info.exists:
        host.noop(f"stanza {stanza} exists in {repo_path} ({info.status})")
        return
    if server.patroni is not None:
        plan_note(server, f"pgBackRest stanza {stanza}: created in {repo_path} by the leader, "
                  "seen there by the replicas")
        yield StringCommand(PITR_PROGRAM, "--config", QuoteString(program_config),
                            "--create-stanza")
        return
    plan_note(server, f"pgBackRest stanza {stanza}: create in {repo_path}, then check")
    yield pgbackrest_command(stanza, "stanza-create")
    archive_mode = psql_query(server, render("archive_mode"))
    yield StringCommand(
        "if", "[", '"$(', archive_mode, ')"', "=", "on", "];", "then",
        pgbackrest_command(stanza, "check"),
        ";", "else", "echo", QuoteString(f"{server}: archive_mode is not on until the server "
                                         f"restarts; run pgbackrest --stanza={stanza} check "
                                         "then"), ">&2;", "fi",
    )
