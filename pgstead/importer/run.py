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
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from pgstead.importer import source as src
from pgstead.importer import target as tgt
from pgstead.importer.ahead import Ahead, Batch
from pgstead.importer.checksum import (
    Checksum,
    line_hash,
    new_salt,
    new_seed,
    row_hash_sql,
    table_checksum,
    value_text,
)
from pgstead.importer.convert import NULL, ConversionError
from pgstead.importer.errors import ImportRefused
from pgstead.importer.lines import OnFailure, source_lines
from pgstead.importer.matching import TablePlan, match_table, plan_table
from pgstead.importer.order import load_order
from pgstead.importer.progress import EVERY, Progress
from pgstead.importer.report import ImportReport, TableReport, ValueFailure
from pgstead.importer.sending import SendingWriter
from pgstead.importer.snapshot import sqlite_snapshot
from pgstead.importer.summing import SourceSums
from pgstead.importer.workers import Converters, worker_count

# Values that cannot convert, kept for a dry run's report (all are counted).
MAX_FAILURES_SHOWN = 50
# Rows per fetch when reading a table back to find where it differs.
READBACK_BATCH = 20000
# How the server prints values: the forms the converters write (convert.py), whatever the
# database's or role's own settings.
_RENDERING = ("SET LOCAL TimeZone = 'UTC'", "SET LOCAL DateStyle = 'ISO, YMD'",
              "SET LOCAL extra_float_digits = 1", "SET LOCAL bytea_output = 'hex'",
              "SET LOCAL client_encoding = 'UTF8'")
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


def import_sqlite(conn: psycopg.Connection, lines: psycopg.Connection, options: ImportOptions,
                  progress: Progress | None = None) -> ImportReport:
    """Import options.sqlite through `conn` (not in autocommit); commit unless a dry run.
    `lines` is a second connection to the same database, through which the server sums the
    source side of the checksum (summing.py); it writes nothing.

    Raises ImportRefused (target rolled back) when the import cannot go ahead or its proof
    fails. A dry run with values that cannot convert returns a report listing them.
    """
    started = time.monotonic()
    progress = progress or Progress()
    report = ImportReport(str(options.sqlite), options.database, options.dry_run)
    with sqlite_snapshot(options.sqlite) as snapshot:
        db = sqlite3.connect(snapshot.path)
        converters = Converters(snapshot.path, worker_count())  # they start meanwhile
        try:
            _transaction(conn, lines, db, converters, options, progress, report)
        except psycopg.Error as error:
            conn.rollback()
            raise ImportRefused(f"the server refused: {_diagnosis(error)}") from None
        except BaseException:
            conn.rollback()
            raise
        finally:
            converters.close()
            db.close()
            lines.rollback()
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


def _transaction(conn: psycopg.Connection, lines: psycopg.Connection, db: sqlite3.Connection,
                 converters: Converters, options: ImportOptions, progress: Progress,
                 report: ImportReport) -> None:
    source_tables = src.read_tables(db)
    chosen, report.excluded = select_tables(source_tables, options.tables, options.exclude)
    if not chosen:
        raise ImportRefused("no table to import")
    # The whole import is one transaction from here.
    for setting in _RENDERING:
        conn.execute(setting)
    targets = tgt.read_tables(conn)
    if options.create_schema:
        from pgstead.importer.create_schema import create_tables
        report.created = create_tables(conn, [source_tables[n] for n in chosen], targets,
                                       options.schema or "public")
        targets = tgt.read_tables(conn)
    plans = [plan_table(db, source_tables[name],
                        match_table(name, targets, options.schema)) for name in chosen]
    _refuse_shared_targets(plans)
    counts = {p.source.name: src.count_rows(db, p.source.name) for p in plans}
    ordered, loose = load_order([p.target for p in plans],
                                {p.target.qualified: counts[p.source.name] for p in plans})
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

    salt, seed = new_salt(), new_seed()
    # With no trigger on any of the tables, nothing changes a table once its COPY is over:
    # its checksum is taken then, while the workers convert the next table. Otherwise every
    # checksum waits for the last write.
    early = not _triggers(conn, [p.target for p in plans])
    on_hold = list(reattach)  # keys put back once every table they join is loaded
    unloaded = {p.target.qualified for p in plans}
    target_sums: dict[int, Checksum] = {}
    progress.started(sum(counts.values()))
    ahead = Ahead(converters, plans,
                  lambda plan: _on_failure(plan, options.dry_run, report),
                  lambda: not report.failures)
    sums = SourceSums(lines, seed)
    with conn.cursor() as cur:
        try:
            for number, plan in enumerate(plans):
                table = TableReport(plan.source.name, plan.label,
                                    conversions=_conversions(plan),
                                    left_to_defaults=list(plan.left_to_defaults))
                write, batches = ahead.table(number)  # after a failed value, convert only
                progress.table_started(plan.label, counts[plan.source.name])
                begun = time.monotonic()
                table.rows = _load(cur, sums, number, batches, plan, write, progress)
                table.load_seconds = time.monotonic() - begun
                report.tables.append(table)
                progress.table_done(table)
                if report.failures:
                    continue  # nothing to prove: the rest is converted for the report only
                begun = time.monotonic()
                unloaded.discard(plan.target.qualified)
                _analyze(cur, plan, reattach)
                on_hold = _reattach(cur, on_hold, unloaded)
                if early:
                    target_sums[number] = _target_sum(cur, plan, seed)
                table.verify_seconds = time.monotonic() - begun
        finally:
            ahead.stop()
            sums.close()
        if report.failures:
            conn.rollback()
            return
        assert not on_hold, on_hold
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # deferred checks fire now, not at commit
        for number, (plan, table) in enumerate(zip(plans, report.tables, strict=True)):
            begun = time.monotonic()
            expected = sums.result(number)
            if expected.rows != table.rows:
                raise ImportRefused(f"{plan.label}: {table.rows} rows converted, "
                                    f"{expected.rows} summed")
            table.checksum = expected.hex
            found = target_sums.get(number) or _target_sum(cur, plan, seed)
            _prove(cur, db, plan, expected, found, salt)
            table.foreign_keys = _foreign_key_checks(plan, reattach, loose)
            table.verify_seconds += time.monotonic() - begun
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


def _analyze(cur: psycopg.Cursor, plan: TablePlan, taken_off: list) -> None:
    """Statistics for the columns of a freshly loaded table that the foreign keys put back
    join on (ANALYZE samples this transaction's own rows): without them the join that
    validates a key can be planned as a nested loop over two large tables, taking hours.
    The other columns wait for autovacuum, which analyses a table this changed soon after
    the commit."""
    table = plan.target.qualified
    columns = {c for t, fk in taken_off if t.qualified == table for c in fk.columns}
    columns |= {c for _, fk in taken_off if fk.ref == table for c in fk.ref_columns}
    if columns:
        cur.execute(sql.SQL("ANALYZE {} ({})").format(
            sql.Identifier(*table), sql.SQL(", ").join(map(sql.Identifier, sorted(columns)))))


def _reattach(cur: psycopg.Cursor, taken_off: list,
              unloaded: set[tuple[str, str]]) -> list:
    """Put back the foreign keys that join no table still to load (each scan checks every
    row); returns the others."""
    waiting = []
    for table, fk in taken_off:
        if {table.qualified, fk.ref} & unloaded:
            waiting.append((table, fk))
            continue
        try:
            cur.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(
                sql.Identifier(*table.qualified), sql.Identifier(fk.name))
                + sql.SQL(fk.definition))
        except psycopg.errors.ForeignKeyViolation as error:
            raise ImportRefused(f"{table.label}: foreign key {fk.name} does not hold: "
                                f"{error.diag.message_detail}") from None
    return waiting


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


def _failure(plan: TablePlan, row: tuple, number: int) -> ValueFailure:
    for column, value in zip(plan.columns, row, strict=True):
        try:
            column.conversion.convert(value)
        except ConversionError as error:
            return ValueFailure(plan.label, _key_text(plan, row, number), column.target.name,
                                f"{error} ({column.target.declared})")
    raise AssertionError("a row failed without a failing value")


def _on_failure(plan: TablePlan, collect: bool, report: ImportReport) -> OnFailure:
    """What a value that cannot convert does: refuse the import, or (`collect`, a dry run)
    join the report."""
    def failed(number: int, row: tuple) -> None:
        failure = _failure(plan, row, number)
        if not collect:
            raise ImportRefused(f"cannot convert {failure}")
        report.failure_count += 1
        if len(report.failures) < MAX_FAILURES_SHOWN:
            report.failures.append(failure)
    return failed


def _load(cur: psycopg.Cursor, sums: SourceSums, number: int, batches: Iterator[Batch],
          plan: TablePlan, write: bool, progress: Progress) -> int:
    """COPY the table's converted rows (when `write`) into the target, each batch also to
    `sums` as table `number`'s; returns the rows read."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(*plan.target.qualified),
        sql.SQL(", ").join(sql.Identifier(c.target.name) for c in plan.columns))
    rows, shown = 0, 0
    try:
        # A writer thread sends while this one hands on the next batch.
        with cur.copy(statement, writer=SendingWriter(cur)) if write else nullcontext() as copy:
            for batch in batches:
                rows += batch.lines
                if write and batch.lines and batch.clean:  # a dry run stops writing
                    copy.write(batch.data)
                    sums.add(number, batch.data)
                if batch.number // EVERY > shown:
                    shown = batch.number // EVERY
                    progress.rows_done(plan.label, batch.number)
        if write:
            sums.end(number)
    except psycopg.Error as error:
        raise ImportRefused(f"{plan.label}: the server refused a row: "
                            f"{_diagnosis(error)}") from None
    return rows


def _target_sum(cur: psycopg.Cursor, plan: TablePlan, seed: int) -> Checksum:
    """The target side: the server sums the checksum of what it stored (no row comes back)."""
    rows, total = cur.execute(table_checksum(plan.target.qualified, _columns(plan)),
                              (seed,)).fetchone()
    return Checksum(rows, int(total))


def _triggers(conn: psycopg.Connection, tables: list[tgt.TargetTable]) -> bool:
    """Whether any of the tables, or of their partitions, has a trigger of its own (one that
    could change a row of a table loaded earlier)."""
    return conn.execute(
        "WITH t AS (SELECT c.oid FROM pg_class AS c "
        "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE (n.nspname, c.relname) IN (SELECT * FROM unnest(%s::text[], %s::text[]))) "
        "SELECT EXISTS (SELECT FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN "
        "(SELECT oid FROM t UNION ALL "
        "SELECT p.relid FROM t, LATERAL pg_partition_tree(t.oid) AS p))",
        ([t.schema for t in tables], [t.name for t in tables])).fetchone()[0]


def _diagnosis(error: psycopg.Error) -> str:
    diag = error.diag
    return "; ".join(filter(None, (diag.message_primary, diag.message_detail,
                                   diag.message_hint, diag.context))) or str(error)


def _columns(plan: TablePlan) -> list[tuple[str, object]]:
    return [(c.target.name, c.conversion) for c in plan.columns]


def _prove(cur: psycopg.Cursor, db: sqlite3.Connection, plan: TablePlan,
           expected: Checksum, found: Checksum, salt: str) -> None:
    """Only when the checksums differ are rows read back, to say where."""
    if (found.rows, found.total) == (expected.rows, expected.total):
        return
    counts = (f"{expected.rows} rows in the source, {found.rows} in the target"
              if found.rows != expected.rows else f"{found.rows} rows on both sides")
    raise ImportRefused(f"{plan.label}: the target differs from the source ({counts}; "
                        f"checksum {expected.hex} vs {found.hex}); first differing row: "
                        f"{_first_difference(cur, db, plan, salt)}")


def _source_rows(db: sqlite3.Connection, plan: TablePlan) -> Iterator[tuple[int, str]]:
    """(row number, line) of every source row (the load converted them all)."""
    def failed(number: int, row: tuple) -> None:
        raise AssertionError(f"row {number} converted for the load but not now")
    number = 0
    for _, lines in source_lines(db, plan, failed):
        for line in lines:
            number += 1
            yield number, line


def _target_rows(cur: psycopg.Cursor, plan: TablePlan, columns: list[sql.Composable],
                 params: tuple = ()) -> Iterator[tuple]:
    """The stored rows as `columns` (SQL) give them, through a server-side cursor fetched in
    batches."""
    query = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(columns),
                                                sql.Identifier(*plan.target.qualified))
    name = f"pgstead_import_readback_{next(_READBACKS)}"  # a generator left early keeps its own
    with cur.connection.cursor(name) as rows:
        rows.execute(query, params)
        while batch := rows.fetchmany(READBACK_BATCH):
            yield from batch


def _first_difference(cur: psycopg.Cursor, db: sqlite3.Connection, plan: TablePlan,
                      salt: str) -> str:
    """The smallest key whose row differs (or exists on one side only), and the columns that
    differ; for a table without a key, the first source row the target lacks."""
    indexes = plan.key_indexes()
    columns = _columns(plan)
    salted = salt.encode()
    hashed = [row_hash_sql(columns)]
    if not indexes:
        present = Counter(h for (h,) in _target_rows(cur, plan, hashed, (salt,)))
        for number, line in _source_rows(db, plan):
            digest = line_hash(salted, line.encode())
            if present[digest] == 0:
                return f"row {number} of the SQLite table (no key) is not in the target"
            present[digest] -= 1
        return "the target holds rows the source does not"

    keys = [value_text(*columns[i]) for i in indexes]
    source = {}
    for _, line in _source_rows(db, plan):
        values = line.split("\t")
        source[tuple(values[i] for i in indexes)] = line_hash(salted, line.encode())
    differing = []
    for *key, digest in _target_rows(cur, plan, keys + hashed, (salt,)):
        if source.pop(tuple(key), None) != digest:
            differing.append(tuple(key))
    differing += list(source)  # in the source only
    first = _smallest(differing, plan, indexes)
    shown = ", ".join(f"{plan.columns[i].target.name}={_key_value(plan, i, text)!r}"
                      for i, text in zip(indexes, first, strict=True))
    return f"{shown} ({_differing_columns(cur, db, plan, indexes, first)})"


def _key_value(plan: TablePlan, index: int, text: str) -> object:
    """A key column's text as the value it stands for, to show and order keys by."""
    if text == NULL:
        return None
    if plan.columns[index].target.base_type in ("int2", "int4", "int8"):
        return int(text)
    return text


def _smallest(keys: list[tuple], plan: TablePlan, indexes: tuple[int, ...]) -> tuple:
    def value(key: tuple) -> tuple:
        return tuple(_key_value(plan, i, t) for i, t in zip(indexes, key, strict=True))
    try:
        return min(keys, key=value)
    except TypeError:
        return min(keys, key=repr)


def _differing_columns(cur: psycopg.Cursor, db: sqlite3.Connection, plan: TablePlan,
                       indexes: tuple[int, ...], key: tuple) -> str:
    columns = _columns(plan)
    mine = next((line.split("\t") for _, line in _source_rows(db, plan)
                 if tuple(line.split("\t")[i] for i in indexes) == key), None)
    texts = [value_text(*c) for c in columns]
    theirs = next((row for row in _target_rows(cur, plan, texts)
                   if tuple(row[i] for i in indexes) == key), None)
    if mine is None:
        return "in the target only"
    if theirs is None:
        return "missing from the target"
    names = [c.target.name for c, a, b in zip(plan.columns, mine, theirs, strict=True)
             if a != b]
    return f"differs in {', '.join(names)}"


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
