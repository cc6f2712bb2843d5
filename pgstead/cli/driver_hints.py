"""What each application driver needs behind pgbouncer 1.18 in transaction mode. Pure.

pgbouncer 1.18 hands a server connection to another client after each transaction and does
not track prepared statements, so a statement a driver prepared on one server connection is
missing, or is another client's, on the next. Each driver below turns its own preparing off;
the ones that read it from the URL get it there, the others in code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DriverHint:
    name: str
    url_params: tuple[tuple[str, str], ...]  # added to DATABASE_URL
    setting: str  # what to write in the application, in the driver's own terms


DRIVERS: dict[str, DriverHint] = {hint.name: hint for hint in (
    DriverHint("node-postgres", (), "pass no `name` in query configs (named queries are "
               "prepared statements); plain client.query(text, values) is safe"),
    DriverHint("postgres.js", (), "postgres(process.env.DATABASE_URL, { prepare: false })"),
    DriverHint("pgx", (("default_query_exec_mode", "simple_protocol"),),
               "default_query_exec_mode=simple_protocol (in DATABASE_URL)"),
    DriverHint("psycopg", (), "psycopg.connect(os.environ['DATABASE_URL'], "
               "prepare_threshold=None)"),
    DriverHint("asyncpg", (), "asyncpg.connect(os.environ['DATABASE_URL'], "
               "statement_cache_size=0); SQLAlchemy: connect_args={'statement_cache_size': 0, "
               "'prepared_statement_cache_size': 0}"),
    DriverHint("prisma", (("pgbouncer", "true"),), "pgbouncer=true (in DATABASE_URL); "
               "migrations use DIRECT_DATABASE_URL as the datasource's directUrl"),
)}


def transaction_mode_note(driver: str | None) -> str:
    """The warning `pgstead env` prints for a pool in transaction mode."""
    note = ("pool_mode transaction: pgbouncer 1.18 keeps no prepared statements across "
            "transactions, and session state (SET, advisory locks, LISTEN) does not survive "
            "one; run migrations over DIRECT_DATABASE_URL.")
    if driver is None:
        return note + (" --driver NAME prints the setting for "
                       f"{', '.join(DRIVERS)}.")
    return note + f" {DRIVERS[driver].name}: {DRIVERS[driver].setting}"
