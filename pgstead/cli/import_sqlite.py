"""`pgstead import FILE.yml --sqlite app.db --database D`: an app's SQLite data into D.

Connects as D's owner (the user the file names in `databases[].owner`), with the password
from the file's secret passed to psycopg as a keyword (never on a command line, never
printed), over sslmode=verify-full with the environment's CA, or over the local socket when
--host is a directory (on the database host). The work and the proof are in
`pgstead.importer`; this module only connects, reports and sets the exit code.
"""

from __future__ import annotations

from pathlib import Path

import click
import psycopg

from pgstead.cli.connection_info import ConnectionInfoError, connection_info
from pgstead.cli.failures import EXIT_FAILURE
from pgstead.config.load import load_environment
from pgstead.config.model import Environment
from pgstead.importer.errors import ImportRefused
from pgstead.importer.progress import StreamProgress
from pgstead.importer.run import ImportOptions, import_sqlite


def owner_of(env: Environment, database: str) -> str:
    declared = env.database(database)
    if declared is None:
        names = ", ".join(d.name for d in env.databases) or "none"
        raise click.ClickException(f"no database {database!r} in {env.source} "
                                   f"(declared: {names})")
    return declared.owner


def _names(values: tuple[str, ...]) -> tuple[str, ...]:
    """--tables a,b --tables c -> (a, b, c)."""
    return tuple(name.strip() for value in values for name in value.split(",") if name.strip())


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--sqlite", "sqlite_path", required=True,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The app's SQLite database file.")
@click.option("--database", required=True, help="A declared database to import into.")
@click.option("--host", default=None,
              help="Server to connect to (default: as `pgstead env`); a directory such as "
                   "/var/run/postgresql means the local socket, on the database host.")
@click.option("--schema", default=None,
              help="Only match (or create) tables in this schema (default: any schema, "
                   "public for --create-schema).")
@click.option("--tables", multiple=True,
              help="Only these SQLite tables (comma-separated or repeated).")
@click.option("--exclude", multiple=True, help="Leave these SQLite tables out.")
@click.option("--truncate", is_flag=True,
              help="Empty target tables that hold rows (in the same transaction).")
@click.option("--dry-run", is_flag=True,
              help="Read, convert, load and prove everything, then roll back.")
@click.option("--create-schema", is_flag=True,
              help="Create the tables that do not exist yet from the SQLite schema.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]),
              default="text", show_default=True)
def import_(file: str, sqlite_path: Path, database: str, host: str | None,
            schema: str | None, tables: tuple[str, ...], exclude: tuple[str, ...],
            truncate: bool, dry_run: bool, create_schema: bool, output_format: str) -> None:
    """Import the SQLite file's rows into DATABASE of the environment FILE, and prove it."""
    environment = load_environment(file)
    try:
        info = connection_info(environment, owner_of(environment, database), host)
    except ConnectionInfoError as error:
        raise click.ClickException(str(error)) from None
    if info.database != database:
        raise click.ClickException(f"the owner of {database!r}, {info.user!r}, is declared "
                                   f"for database {info.database!r}")
    options = ImportOptions(sqlite_path, database, _names(tables), _names(exclude), schema,
                            truncate, dry_run, create_schema)
    try:
        # The second connection carries the lines whose checksum the server sums for the
        # source side (pgstead.importer.summing).
        conn, lines = (psycopg.connect(**info.connect_kwargs(), connect_timeout=15,
                                       application_name="pgstead import") for _ in range(2))
    except psycopg.OperationalError as error:
        raise click.ClickException(f"cannot connect to {info.host}:{info.port} as "
                                   f"{info.user}: {error}") from None
    progress = StreamProgress()
    try:
        with conn, lines:
            report = import_sqlite(conn, lines, options, progress)
    except ImportRefused as error:
        click.echo(f"import refused: {error}", err=True)
        click.echo(f"nothing was written to {database}: the transaction was rolled back",
                   err=True)
        raise SystemExit(EXIT_FAILURE) from None
    click.echo(report.as_json() if output_format == "json" else report.as_text())
    click.echo(f"note: the import read a snapshot of {sqlite_path} taken when it started; "
               "stop the app's writes to it for the cut-over", err=True)
    if report.source_changed:
        click.echo(f"warning: {sqlite_path} was written to during the import; those writes "
                   "are not in the target", err=True)
    if report.failure_count:
        raise SystemExit(EXIT_FAILURE)
