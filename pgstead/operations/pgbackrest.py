"""pgBackRest stanzas: created once per cluster, then checked end to end."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation

from pgstead.facts.pgbackrest import PgBackRestStanza, pgbackrest_command
from pgstead.operations.plan_notes import plan_note
from pgstead.postgres.sql import render
from pgstead.server.psql import Server, psql_query


@operation()
def stanza(stanza: str, repo_path: str, server: Server):
    """
    Ensure a pgBackRest stanza exists in its repository, and check it once created.

    + stanza: the stanza's name, as in its /etc/pgbackrest/conf.d file
    + repo_path: the repository the stanza's config names (repo1-path)
    + server: the cluster the stanza backs up

    ``check`` forces a WAL switch and waits for the segment in the repository, so it proves
    archiving works; it runs when archive_mode is on already (under ``restart_policy: never``
    it waits for the restart that turns it on).

    **Example:**

    .. code:: python

        pgbackrest.stanza(stanza="main", repo_path="/var/backups/pgstead/pgbackrest",
                          server=Server(15, "main", 5432))
    """
    info = host.get_fact(PgBackRestStanza, stanza=stanza, repo_path=repo_path)
    if info is not None and info.exists:
        host.noop(f"stanza {stanza} exists in {repo_path} ({info.status})")
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
