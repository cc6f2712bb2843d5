"""The import itself: one transaction from the first read of the target to the commit.

Everything the target sees happens inside it (truncation, --create-schema's tables, the
rows, sequence values), so a refusal at any point, including a failed proof, leaves the
target exactly as it was.
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from pgstead.importer import source as src
from pgstead.importer import target as tgt
from pgstead.importer.checksum import Checksum, normaliser, row_digest
from pgstead.importer.convert import ConversionError, register_json_text
from pgstead.importer.errors import ImportRefused
from pgstead.importer.matching import TablePlan, match_table, plan_table
from pgstead.importer.order import load_order
from pgstead.importer.progress import EVERY, Progress
from pgstead.importer.report import ImportReport, TableReport, ValueFailure
from pgstead.importer.snapshot import sqlite_snapshot

# Values that cannot convert, kept for a dry run's report (all are counted).
MAX_FAILURES_SHOWN = 50
# Rows per fetch when reading a loaded table back for its checksum.
READBACK_BATCH = 20000
_READBACKS = itertools.count()


@dataclass(frozen=True)
class ImportOptions:
    sqlite: Path
    database: str  # for the report
    tables: tuple[str, ...] = ()  # only these (bookkeeping tables too, when named)
    exclude: tuple[str, ...] = ()
    schema: str | None = None  # look for (or create) the tables in this schema only
    truncate: bool = False
    dry_run: bool = False
    create_schema: bool = False


def import_sqlite(conn: psycopg.Connection, options: ImportOptions,
                  progress: Progress | None = None) -> ImportReport:
    """Import options.sqlite through `conn` (not in autocommit); commit unless a dry run.

    Raises ImportRefused (target rolled back) when the import cannot go ahead or its proof
    fails. A dry run with values that cannot convert returns a report listing them.
    """
    started = time.monotonic()
    progress = progress or Progress()
    report = ImportReport(str(options.sqlite), options.database, options.dry_run)
    with sqlite_snapshot(options.sqlite) as snapshot:
        db = sqlite3.connect(snapshot.path)
        try:
            _transaction(conn, db, options, progress, report)
        except psycopg.Error as error:
            conn.rollback()
            raise ImportRefused(f"the server refused: {_diagnosis(error)}") from None
        except BaseException:
            conn.rollback()
            raise
        finally:
            db.close()
        report.source_changed = snapshot.source_changed()
    report.seconds = time.monotonic() - started
    return report


def select_tables(tables: dict[str, src.SourceTable], only: tuple[str, ...],
                  exclude: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(tables to import, tables left out and why), refusing names the file lacks."""
    unknown = sorted((set(only) | set(exclude)) - set(tables))
    if unknown:
        raise ImportRefused(f"no table {', '.join(map(repr, unknown))} in the SQLite file "
                            f"(it has: {', '.join(tables) or 'none'})")
    chosen, left = [], []
    for name in tables:
        if name in exclude or (only and name not in only):
            left.append(f"{name} (excluded)")
        elif not only and name in src.BOOKKEEPING_TABLES:
            left.append(f"{name} (migration bookkeeping)")
        else:
            chosen.append(name)
    return chosen, left


def _transaction(conn: psycopg.Connection, db: sqlite3.Connection, options: ImportOptions,
                 progress: Progress, report: ImportReport) -> None:
    source_tables = src.read_tables(db)
    chosen, report.excluded = select_tables(source_tables, options.tables, options.exclude)
    if not chosen:
        raise ImportRefused("no table to import")
    # Timestamps read back in UTC; the whole import is one transaction from here.
    conn.execute("SET LOCAL TimeZone = 'UTC'")
    targets = tgt.read_tables(conn)
    if options.create_schema:
        from pgstead.importer.create_schema import create_tables
        report.created = create_tables(conn, [source_tables[n] for n in chosen], targets,
                                       options.schema or "public")
        targets = tgt.read_tables(conn)
    plans = [plan_table(db, source_tables[name],
                        match_table(name, targets, options.schema)) for name in chosen]
    _refuse_shared_targets(plans)
    ordered, loose = load_order([p.target for p in plans])
    by_target = {p.target.qualified: p for p in plans}
    plans = [by_target[t.qualified] for t in ordered]
    report.truncated = _empty_targets(conn, plans, options.truncate)
    # Every foreign key of a table the owner owns is taken off for the load and put back
    # before the proof: one validating scan per key is cheaper than a lookup per row, and
    # no load order is needed for self-references and cycles. Others stay as they are
    # (deferred when no order satisfies them and they allow it).
    owned = _owned(conn, [p.target for p in plans])
    off = [(t, fk) for t in ordered if t.qualified in owned for fk in t.foreign_keys()]
    reattach = _loosen(conn, off, [(t, fk) for t, fk in loose if t.qualified not in owned])

    sums: list[Checksum] = []
    progress.started(sum(src.count_rows(db, p.source.name) for p in plans))
    with conn.cursor() as cur:
        for plan in plans:
            table = TableReport(plan.source.name, plan.label, conversions=_conversions(plan),
                                left_to_defaults=list(plan.left_to_defaults))
            write = not report.failures  # after a failed value (dry run), convert only
            progress.table_started(plan.label, src.count_rows(db, plan.source.name))
            begun = time.monotonic()
            sums.append(_load(cur, db, plan, write, options.dry_run, report, progress))
            table.rows = sums[-1].rows
            table.checksum = sums[-1].hex
            table.load_seconds = time.monotonic() - begun
            report.tables.append(table)
            progress.table_done(table)
        if report.failures:
            conn.rollback()
            return
        key_seconds = _analyze(cur, plans)
        for table, seconds in _reattach(cur, reattach).items():
            key_seconds[table] = key_seconds.get(table, 0.0) + seconds
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # deferred checks fire now, not at commit
        for plan, table, expected in zip(plans, report.tables, sums, strict=True):
            begun = time.monotonic() - key_seconds.get(plan.target.qualified, 0.0)
            _prove(cur, db, plan, expected)
            table.foreign_keys = _foreign_key_checks(plan, reattach, loose)
            table.verify_seconds = time.monotonic() - begun
        # Last, once everything is proved: setval is not undone by a rollback.
        for plan, table in zip(plans, report.tables, strict=True):
            begun = time.monotonic()
            table.sequences = _advance_sequences(cur, plan, set_them=not options.dry_run)
            table.verify_seconds += time.monotonic() - begun
    if options.dry_run:
        conn.rollback()
    else:
        conn.commit()
        report.committed = True


def _conversions(plan: TablePlan) -> dict[str, str]:
    out = {}
    for column in plan.columns:
        said = [column.conversion.description] if column.conversion.description else []
        if column.source != column.target.name:
            said.insert(0, f"from SQLite column {column.source!r} (matched ignoring case)")
        if said:
            out[column.target.name] = "; ".join(said)
    return out


def _refuse_shared_targets(plans: list[TablePlan]) -> None:
    seen: dict[tuple[str, str], str] = {}
    for plan in plans:
        other = seen.setdefault(plan.target.qualified, plan.source.name)
        if other != plan.source.name:
            raise ImportRefused(f"tables {other!r} and {plan.source.name!r} both land in "
                                f"{plan.label}")


def _empty_targets(conn: psycopg.Connection, plans: list[TablePlan],
                   truncate: bool) -> list[str]:
    """Refuse target tables that hold rows, or (--truncate) empty them; returns the emptied."""
    holding = [p for p in plans if conn.execute(
        sql.SQL("SELECT EXISTS (SELECT FROM {})").format(
            sql.Identifier(*p.target.qualified))).fetchone()[0]]
    if not holding:
        return []
    labels = [p.label for p in holding]
    if not truncate:
        raise ImportRefused(f"target tables already hold rows: {', '.join(labels)} "
                            "(--truncate empties them first, inside the same transaction)")
    # All the import's tables at once: one referencing another cannot be emptied alone.
    conn.execute(sql.SQL("TRUNCATE {}").format(
        sql.SQL(", ").join(sql.Identifier(*p.target.qualified) for p in plans)))
    return labels


def _loosen(conn: psycopg.Connection, take_off: list, unordered: list) -> list:
    """Take off `take_off`'s foreign keys; of `unordered` (keys no load order satisfies, on
    tables the role does not own) defer the deferrable, take off the rest. Returns those
    taken off, to put back (which checks every row)."""
    taken_off = []
    for table, fk in unordered:
        if fk.deferrable:
            conn.execute(sql.SQL("SET CONSTRAINTS {} DEFERRED").format(
                sql.Identifier(table.schema, fk.name)))
        else:
            take_off.append((table, fk))
    for table, fk in take_off:
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
            sql.Identifier(*table.qualified), sql.Identifier(fk.name)))
        taken_off.append((table, fk))
    return taken_off


def _owned(conn: psycopg.Connection, tables: list[tgt.TargetTable]) -> set[tuple[str, str]]:
    """The tables the connected role may alter (it is, or is a member of, their owner)."""
    rows = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class AS c "
        "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE (n.nspname, c.relname) IN (SELECT * FROM unnest(%s::text[], %s::text[])) "
        "AND pg_has_role(c.relowner, 'USAGE')",
        ([t.schema for t in tables], [t.name for t in tables])).fetchall()
    return {(schema, name) for schema, name in rows}


def _analyze(cur: psycopg.Cursor, plans: list[TablePlan]) -> dict[tuple[str, str], float]:
    """Statistics for the freshly loaded tables (ANALYZE samples this transaction's own rows):
    without them the join that validates a foreign key can be planned as a nested loop over
    two large tables, taking hours. The app's first queries get them too."""
    spent = {}
    for plan in plans:
        begun = time.monotonic()
        cur.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(*plan.target.qualified)))
        spent[plan.target.qualified] = time.monotonic() - begun
    return spent


def _reattach(cur: psycopg.Cursor, taken_off: list) -> dict[tuple[str, str], float]:
    """Put the foreign keys back (each scan checks every row); seconds spent per table."""
    spent: dict[tuple[str, str], float] = {}
    for table, fk in taken_off:
        begun = time.monotonic()
        try:
            cur.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(
                sql.Identifier(*table.qualified), sql.Identifier(fk.name))
                + sql.SQL(fk.definition))
        except psycopg.errors.ForeignKeyViolation as error:
            raise ImportRefused(f"{table.label}: foreign key {fk.name} does not hold: "
                                f"{error.diag.message_detail}") from None
        spent[table.qualified] = spent.get(table.qualified, 0.0) + time.monotonic() - begun
    return spent


def _foreign_key_checks(plan: TablePlan, taken_off: list, loose: list) -> dict[str, str]:
    off = {(t.qualified, fk.name) for t, fk in taken_off}
    deferred = {(t.qualified, fk.name) for t, fk in loose} - off
    out = {}
    for fk in plan.target.foreign_keys():
        key = (plan.target.qualified, fk.name)
        out[fk.name] = ("taken off for the load, put back: every row checked" if key in off
                        else "deferred, every row checked before the proof" if key in deferred
                        else "checked by the server on every row")
    return out


def _key_text(plan: TablePlan, row: tuple, number: int) -> str:
    indexes = plan.key_indexes()
    if not indexes:
        return f"row {number}"
    return ", ".join(f"{plan.columns[i].target.name}={row[i]!r}" for i in indexes)


def _converted(plan: TablePlan, db: sqlite3.Connection) -> Iterator[tuple[int, tuple, tuple]]:
    # The raw converters, None tested inline: a call less per value on the hot path.
    converters = [getattr(c.conversion.convert, "__wrapped__", c.conversion.convert)
                  for c in plan.columns]
    names = tuple(c.source for c in plan.columns)
    for number, row in enumerate(src.rows(db, plan.source.name, names), 1):
        try:
            yield number, row, tuple([None if v is None else f(v)
                                      for f, v in zip(converters, row, strict=True)])
        except ConversionError:
            yield number, row, None


def _failure(plan: TablePlan, row: tuple, number: int) -> ValueFailure:
    for column, value in zip(plan.columns, row, strict=True):
        try:
            column.conversion.convert(value)
        except ConversionError as error:
            return ValueFailure(plan.label, _key_text(plan, row, number), column.target.name,
                                f"{error} ({column.target.declared})")
    raise AssertionError("a row failed without a failing value")


def _load(cur: psycopg.Cursor, db: sqlite3.Connection, plan: TablePlan, write: bool,
          collect: bool, report: ImportReport, progress: Progress) -> Checksum:
    """COPY the table's converted rows (when `write`) and sum their checksum."""
    # Binary COPY: the server reads timestamps and numbers without parsing text.
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(*plan.target.qualified),
        sql.SQL(", ").join(sql.Identifier(c.target.name) for c in plan.columns))
    normalise = normaliser(c.conversion.source_norm for c in plan.columns)
    register_json_text(cur.adapters)
    rows, total = 0, 0
    try:
        with cur.copy(statement) if write else nullcontext() as copy:
            if copy is not None:
                copy.set_types([c.conversion.write_type or c.conversion.read_type
                                for c in plan.columns])
            write_row = copy.write_row if copy is not None else None
            for number, row, out in _converted(plan, db):
                if out is None:
                    failure = _failure(plan, row, number)
                    if not collect:
                        raise ImportRefused(f"cannot convert {failure}")
                    report.failure_count += 1
                    if len(report.failures) < MAX_FAILURES_SHOWN:
                        report.failures.append(failure)
                    write_row = None  # a dry run goes on converting, and stops writing
                    continue
                if write_row is not None:
                    write_row(out)
                rows += 1
                total += hash(normalise(out))  # Checksum.add, inlined: the hot loop
                if number % EVERY == 0:
                    progress.rows_done(plan.label, number)
    except psycopg.Error as error:
        raise ImportRefused(f"{plan.label}: the server refused a row: "
                            f"{_diagnosis(error)}") from None
    return Checksum.of(rows, total)


def _diagnosis(error: psycopg.Error) -> str:
    diag = error.diag
    return "; ".join(filter(None, (diag.message_primary, diag.message_detail,
                                   diag.message_hint, diag.context))) or str(error)


def _target_rows(cur: psycopg.Cursor, plan: TablePlan) -> Iterator[tuple]:
    """The table's rows as the server holds them, normalised: a binary server-side cursor
    fetched in batches (memory flat, a few round trips per batch, not one per row)."""
    query = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(sql.Identifier(c.target.name)
                           + sql.SQL("::text" if c.conversion.read_as_text else "")
                           for c in plan.columns),
        sql.Identifier(*plan.target.qualified))
    normalise = normaliser(c.conversion.target_norm for c in plan.columns)
    name = f"pgstead_import_readback_{next(_READBACKS)}"  # a generator left early keeps its own
    with cur.connection.cursor(name, binary=True) as rows:
        rows.execute(query)
        while batch := rows.fetchmany(READBACK_BATCH):
            for row in batch:
                yield normalise(row)


def _prove(cur: psycopg.Cursor, db: sqlite3.Connection, plan: TablePlan,
           expected: Checksum) -> None:
    found = Checksum()
    for row in _target_rows(cur, plan):
        found.add(row)
    if (found.rows, found.total) == (expected.rows, expected.total):
        return
    counts = (f"{expected.rows} rows in the source, {found.rows} in the target"
              if found.rows != expected.rows else f"{found.rows} rows on both sides")
    raise ImportRefused(f"{plan.label}: the target differs from the source ({counts}; "
                        f"checksum {expected.hex} vs {found.hex}); first differing row: "
                        f"{_first_difference(cur, db, plan)}")


def _first_difference(cur: psycopg.Cursor, db: sqlite3.Connection, plan: TablePlan) -> str:
    """The smallest key whose row differs (or exists on one side only), and the columns that
    differ; for a table without a key, the first source row the target lacks."""
    indexes = plan.key_indexes()
    source_norm = normaliser(c.conversion.source_norm for c in plan.columns)
    source_rows = ((n, source_norm(out)) for n, _, out in _converted(plan, db))
    if not indexes:
        present = Counter(row_digest(row) for row in _target_rows(cur, plan))
        for number, row in source_rows:
            digest = row_digest(row)
            if present[digest] == 0:
                return f"row {number} of the SQLite table (no key) is not in the target"
            present[digest] -= 1
        return "the target holds rows the source does not"

    def key_of(row: tuple) -> tuple:
        return tuple(row[i] for i in indexes)

    source = {key_of(row): row_digest(row) for _, row in source_rows}
    differing = []
    for row in _target_rows(cur, plan):
        key = key_of(row)
        if source.pop(key, None) != row_digest(row):
            differing.append(key)
    differing += list(source)  # in the source only
    first = _smallest(differing)
    names = [plan.columns[i].target.name for i in indexes]
    shown = ", ".join(f"{n}={v!r}" for n, v in zip(names, first, strict=True))
    return f"{shown} ({_differing_columns(cur, db, plan, key_of, first)})"


def _smallest(keys: list[tuple]) -> tuple:
    try:
        return min(keys)
    except TypeError:
        return min(keys, key=repr)


def _differing_columns(cur: psycopg.Cursor, db: sqlite3.Connection, plan: TablePlan,
                       key_of: Callable[[tuple], tuple], key: tuple) -> str:
    source_norm = normaliser(c.conversion.source_norm for c in plan.columns)
    mine = next((source_norm(out) for _, _, out in _converted(plan, db)
                 if key_of(source_norm(out)) == key), None)
    theirs = next((row for row in _target_rows(cur, plan) if key_of(row) == key), None)
    if mine is None:
        return "in the target only"
    if theirs is None:
        return "missing from the target"
    columns = [c.target.name for c, a, b in zip(plan.columns, mine, theirs, strict=True)
               if a != b]
    return f"differs in {', '.join(columns)}"


def _advance_sequences(cur: psycopg.Cursor, plan: TablePlan,
                       set_them: bool) -> dict[str, int]:
    """Set every serial or identity sequence of a loaded column past the column's maximum
    (and past SQLite's AUTOINCREMENT high-water mark), then check that it is; or (a dry
    run, since sequences ignore rollbacks) only say what each would give next."""
    out = {}
    for column in plan.columns:
        sequence = column.target.sequence
        if sequence is None:
            continue
        largest = cur.execute(sql.SQL("SELECT max({}) FROM {}").format(
            sql.Identifier(column.target.name), sql.Identifier(*plan.target.qualified))
        ).fetchone()[0]
        if plan.source.autoincrement and plan.source.primary_key == (column.source,):
            largest = max(filter(None.__ne__, (largest, plan.source.sequence_value)),
                          default=None)
        if largest is None:
            continue
        if not set_them:
            out[column.target.name] = largest + 1
            continue
        cur.execute("SELECT setval(%s::regclass, %s)", (sequence, largest))
        last, step = cur.execute(
            "SELECT pg_sequence_last_value(%s::regclass), seqincrement FROM pg_sequence "
            "WHERE seqrelid = %s::regclass", (sequence, sequence)).fetchone()
        if last is None or last + step <= largest:
            raise ImportRefused(f"{plan.label}.{column.target.name}: sequence {sequence} "
                                f"would give {last} + {step}, not past {largest}")
        out[column.target.name] = last + step
    return out
