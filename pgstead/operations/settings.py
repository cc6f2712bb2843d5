"""Server parameters, set with ALTER SYSTEM: reload for most, restart only when one needs it."""

from __future__ import annotations

from psycopg import sql
from pyinfra import host, logger
from pyinfra.api import QuoteString, StringCommand, operation

from pgstead.facts.settings import LiveSetting, PgSettings
from pgstead.operations.plan_notes import plan_note
from pgstead.postgres import catalog, units
from pgstead.postgres.sql import ident, literal, render
from pgstead.server.psql import Server, psql_commands, psql_query


def _configured(row: LiveSetting) -> str:
    """The value pgstead last wrote (postgresql.auto.conf), else the running one.

    The written value is the truth for a change waiting on a restart, and for parameters
    whose running value depends on the connection (tcp_keepalives_* read 0 over a socket).
    """
    if row.auto_conf is not None:
        return units.parse(row.auto_conf, row.vartype, row.unit, name=row.name)
    return row.setting


def _set(name: str, value: str) -> list[str]:
    # A list parameter takes one literal per item: 'a, b' as one literal names one item "a, b".
    items = units.split_list(value) if units.is_list(name) else [value]
    statement = render("alter_system_set", name=ident(name),
                       value=sql.SQL(", ").join(literal(item) for item in items))
    return [*_placeholder(name, value), statement]


def _reset(name: str) -> list[str]:
    return [*_placeholder(name, None), render("alter_system_reset", name=ident(name))]


def _placeholder(name: str, value: str | None) -> list[str]:
    """Before PostgreSQL 17, ALTER SYSTEM refuses a library's parameter (auth_delay.*) until the
    library is loaded; a session-level set_config makes it known to this session first."""
    if "." not in name:
        return []
    return [render("set_config_session", name=literal(name), value=literal(value or ""))]


def _enumvals(known: dict[str, catalog.Parameter], name: str) -> tuple[str, ...] | None:
    param = known.get(name)
    return param.enumvals if param else None


# Runs as postgres, with the server's bin and config directories as $1 and $2 and the
# statements on stdin: ALTER SYSTEM in a standalone backend (no postmaster, nothing listens),
# which checks each value as a live server would and writes postgresql.auto.conf the same way.
# A rejected value stops it (exit_on_error) and the file it started from is put back. It loads
# no library, so a library's parameter is a placeholder, as before the library's first start.
_STANDALONE = (
    'set -e; umask 077; f="$("$1/postgres" -D "$2" -C data_directory)/postgresql.auto.conf"; '
    'cp -p "$f" "$f.pgstead-prev"; '
    'if "$1/postgres" --single -j -D "$2" -c exit_on_error=on -c shared_preload_libraries= '
    '-c log_checkpoints=off -c log_statement=none postgres >/dev/null; then '
    'rm "$f.pgstead-prev"; exit 0; fi; '
    'mv "$f.pgstead-prev" "$f"; '
    'echo "pgstead: the standalone backend failed (a rejected parameter, or the server '
    'runs); postgresql.auto.conf is as before" >&2; exit 1'
)


def _write_then_start(server: Server, settings: dict[str, str]):
    """Write `settings` into a stopped native cluster's postgresql.auto.conf, then start it.

    It starts already running with them: no restart follows, whatever their context.
    """
    plan_note(server, *(f"{name}: -> {value} (before the server starts)"
                        for name, value in settings.items()))
    # RESET ALL first: the file ends up holding the declared parameters and nothing else.
    statements = [render("alter_system_reset_all"),
                  *(s for name, value in settings.items() for s in _set(name, value))]
    # A standalone backend ends a statement at a semicolon followed by an empty line (-j).
    script = "".join(f"{statement};\n\n" for statement in statements)
    yield StringCommand("runuser", "-u", "postgres", "--", "sh", "-c", QuoteString(_STANDALONE),
                        "pgstead-settings", server.bindir, QuoteString(server.config_dir),
                        _stdin=script)
    yield StringCommand("pg_ctlcluster", str(server.version), QuoteString(server.cluster), "start")


@operation()
def parameters(server: Server, settings: dict[str, str], restart_policy: str = "auto"):
    """
    Ensure the server's parameters hold `settings`, owning postgresql.auto.conf.

    + server: the `Server` to configure
    + settings: parameter name to PostgreSQL text value (``"256MB"``, ``"on"``, ``"1min"``)
    + restart_policy: ``auto`` restarts when a changed parameter needs it; ``never`` applies,
      reloads and reports the pending restart

    Only parameters whose configured value differs are written. Values set earlier by
    ALTER SYSTEM that are no longer declared are reset. If the server rejects a value, the
    earlier values are written back and nothing is reloaded.

    **Example:**

    .. code:: python

        settings.parameters(server=Server(15, "main", 5432),
                            settings={"shared_buffers": "256MB", "log_connections": "on"})
    """
    live = host.get_fact(PgSettings, server=server, names=tuple(settings))
    if live is None and server.native:
        yield from _write_then_start(server, settings)
        return
    rows = live.rows if live else {}
    known = catalog.parameters(server.version)

    changes: list[tuple[str, str | None]] = []  # (name, new value or None to reset)
    for name, value in settings.items():
        row = rows.get(name)
        if row is None or not units.same(value, _configured(row), row.vartype, row.unit,
                                         enumvals=_enumvals(known, name), name=name):
            changes.append((name, value))
    for name, row in rows.items():
        if row.auto_conf is not None and name not in settings:
            changes.append((name, None))

    def needs_restart(name: str) -> bool:
        if name in rows:
            return rows[name].context == "postmaster"
        # A library's parameter (auth_delay.milliseconds) is unknown until the library is
        # loaded; it is written now and read at the restart that loads the library.
        return name in known and known[name].context == "postmaster"

    restart_needed = sorted(name for name, _ in changes if needs_restart(name))
    already_pending = sorted(name for name, row in rows.items() if row.pending_restart)

    if not changes:
        if already_pending and restart_policy == "never":
            logger.warning(f"{host.name}: {server} waits for a restart for: "
                           + ", ".join(already_pending))
        host.noop(f"{server}: {len(settings)} parameters already set")
        if not (already_pending and restart_policy == "auto"):
            return

    # The plan names each change and its class, so --dry says exactly what will happen.
    for name, value in changes:
        before = units.humanise(rows[name].setting, rows[name].unit) if name in rows else "?"
        after = value if value is not None else "(default)"
        kind = "restart" if needs_restart(name) else "reload"
        plan_note(server, f"{name}: {before} -> {after} ({kind})")

    if changes:
        forward = [s for n, v in changes for s in (_set(n, v) if v is not None else _reset(n))]
        # Compensation restores what postgresql.auto.conf held, so a rejected value leaves
        # the server on its old configuration.
        backward = [
            s for n, _ in changes
            for s in (_set(n, rows[n].auto_conf) if n in rows and rows[n].auto_conf is not None
                      else _reset(n))
        ]
        apply = psql_commands(server, [*forward, "SELECT pg_reload_conf()"])
        undo = psql_commands(server, backward)
        yield StringCommand(apply, "||", "{", undo, ";", "exit", "1;", "}")

    pending = sorted(set(restart_needed) | set(already_pending))
    if not pending:
        return
    if restart_policy != "auto":
        logger.warning(f"{host.name}: {server} needs a restart for: " + ", ".join(pending)
                       + " (restart_policy: never, not restarting)")
        return
    yield server.restart_command()
    # Confirm: after the restart nothing may still wait for one.
    check = psql_query(server, render("pending_restart"))
    yield StringCommand("test", "-z", "\"$(", check, ")\"")
