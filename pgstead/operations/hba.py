"""pg_hba.conf: installed whole, checked by PostgreSQL first, then reloaded (never restarted)."""

from __future__ import annotations

import hashlib

from pyinfra import host, logger
from pyinfra.api import QuoteString, StringCommand, operation

from pgstead.facts.access import AccessRead, LiveHba
from pgstead.operations.owner import file_owner
from pgstead.operations.plan_notes import plan_note
from pgstead.postgres.sql import render
from pgstead.server.psql import Server, psql_commands, psql_query

PREVIOUS_SUFFIX = ".pgstead-prev"
NEW_SUFFIX = ".pgstead-new"

# Runs as postgres with the file path as $1 and the new content on stdin: written beside the
# old file under its final mode, the old one kept, then renamed into place in one step.
_INSTALL = (f'set -e; umask 077; cat > "$1{NEW_SUFFIX}"; chmod 640 "$1{NEW_SUFFIX}"; '
            f'cp -p "$1" "$1{PREVIOUS_SUFFIX}"; mv "$1{NEW_SUFFIX}" "$1"')
_RESTORE = f'cp -p "$1{PREVIOUS_SUFFIX}" "$1"'


def _as_postgres(server: Server, script: str, path: str, **kwargs: object) -> StringCommand:
    """`sh -c script` on the host as the owner of the server's files.

    A container reads its config directory through a read-only mount: the file is changed
    on the host, at `server.host_path`, as the container's numeric postgres uid/gid.
    """
    if server.native:
        prefix = ["runuser", "-u", "postgres", "--"]
    else:
        uid, gid = file_owner(server).split(":")
        prefix = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]
    return StringCommand(*prefix, "sh", "-c", QuoteString(script), "pgstead-hba",
                         QuoteString(server.host_path(path)), **kwargs)


@operation()
def pg_hba(server: Server, content: str, access: AccessRead):
    """
    Ensure the server's pg_hba.conf is exactly `content`, loaded by a reload.

    + server: the `Server` whose ``hba_file`` (from ``SHOW hba_file``) is managed
    + content: the whole file, from ``pgstead.render.pg_hba.render_pg_hba``
    + access: the server's access state, read once for the access role's steps (nothing
      before this step changes pg_hba.conf)

    The file is compared by sha256, so a converged host changes nothing. On a change the new
    text goes over stdin, the previous file is kept beside it as ``pg_hba.conf.pgstead-prev``,
    and PostgreSQL parses the new file (``pg_hba_file_rules``) BEFORE the reload: if it finds
    an error the previous file is put back and the operation fails with PostgreSQL's message,
    so a bad file never reaches the running server or its next start.

    **Example:**

    .. code:: python

        hba.pg_hba(name="pg_hba.conf", server=server, content=pg_hba_for(env),
                   access=AccessRead(server, users))
    """
    live: LiveHba | None = access.hba()
    wanted = hashlib.sha256(content.encode("utf-8")).hexdigest()
    if live is not None and live.sha256 == wanted:
        host.noop(f"{server}: pg_hba.conf up to date")
        return
    if live is None:
        # The server is not up yet (a plan for a fresh host); it will be when this runs.
        logger.info(f"{host.name}: {server}: pg_hba.conf will be written once the server runs")
        yield StringCommand("true")
        return
    plan_note(server, f"pg_hba.conf at {live.path} changes (reload)")
    yield _as_postgres(server, _INSTALL, live.path, _stdin=content)
    errors = psql_query(server, render("hba_errors"))
    restore = _as_postgres(server, _RESTORE, live.path)
    yield StringCommand(
        "errors=\"$(", errors, ")\"", "||", "exit", "1;",
        "if", "[", "-n", "\"$errors\"", "];", "then", restore, ";",
        "echo", "\"pgstead: PostgreSQL rejects the new pg_hba.conf ($errors); "
        "the previous file is back in place\"", ">&2;", "exit", "1;", "fi")
    yield psql_commands(server, ["SELECT pg_reload_conf()"])
