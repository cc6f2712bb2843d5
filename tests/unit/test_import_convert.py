"""The SQLite importer's pure parts: converters, the epoch unit, table selection, load order."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

import pytest

from pgstead.importer.convert import (
    ConversionError,
    decimal_text,
    epoch_unit,
    float_text,
    int_converter,
    numeric_converter,
    numeric_text_converter,
    plan_conversion,
    text_converter,
    time_converter,
    to_bool,
    to_json_text,
    to_jsonb_text,
    to_uuid,
)
from pgstead.importer.errors import ImportRefused
from pgstead.importer.order import load_order
from pgstead.importer.run import select_tables
from pgstead.importer.source import SourceTable
from pgstead.importer.target import TargetColumn, TargetConstraint, TargetTable


@pytest.mark.parametrize(("value", "expected"), [
    (1, True), (0, False), ("t", True), ("F", False), (" yes ", True), ("off", False),
    (1.0, True)])
def test_booleans(value, expected):
    assert to_bool(value) is expected


@pytest.mark.parametrize("value", [2, -1, "maybe", "", b"\x01", 0.5])
def test_not_booleans(value):
    with pytest.raises(ConversionError, match="is not a boolean"):
        to_bool(value)


@pytest.mark.parametrize(("extent", "unit"), [
    (None, "s"), (0, "s"), (1_700_000_000, "s"), (99_999_999_999, "s"),
    (100_000_000_000, "ms"), (1_700_000_000_123, "ms"), (1_700_000_000_123_456, "us")])
def test_epoch_unit_follows_the_largest_number(extent, unit):
    assert epoch_unit(extent) == unit


def test_epoch_and_iso_into_each_time_type():
    assert time_converter("timestamptz", "ms")(1_700_000_000_123) == datetime(
        2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    assert time_converter("timestamptz", "s")("2024-01-02 03:04:05") == datetime(
        2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert time_converter("timestamp", "s")("2024-01-02T03:04:05+01:00") == datetime(
        2024, 1, 2, 2, 4, 5)
    assert time_converter("timestamp", "ms")("1700000000123") == datetime(
        2023, 11, 14, 22, 13, 20, 123000)
    assert time_converter("date", "s")(86400) == date(1970, 1, 2)
    with pytest.raises(ConversionError, match="which a date column would drop"):
        time_converter("date", "s")("2024-01-02 10:00")
    with pytest.raises(ConversionError, match="ISO 8601"):
        time_converter("timestamptz", "s")("yesterday")


def test_numbers_text_json_uuid():
    assert numeric_converter(2)("12.50") == Decimal("12.50")
    assert numeric_converter(None)(0.1) == Decimal("0.1")
    with pytest.raises(ConversionError, match="rounded to 2 decimal places"):
        numeric_converter(2)("1.005")
    with pytest.raises(ConversionError, match="out of range for int2"):
        int_converter("int2")(40000)
    assert int_converter("int8")(" 42") == 42
    with pytest.raises(ConversionError, match="longer than 3"):
        text_converter(3)("abcd")
    with pytest.raises(ConversionError, match="NUL"):
        text_converter(None)("a\x00b")
    assert to_json_text(5) == "5"
    with pytest.raises(ConversionError, match="is not JSON"):
        to_json_text("{oops")
    assert str(to_uuid(bytes(range(16)))) == "00010203-0405-0607-0809-0a0b0c0d0e0f"


def _source(name: str) -> SourceTable:
    return SourceTable(name, (), (), (), False, None)


def test_bookkeeping_left_out_unless_named_and_unknown_names_refused():
    tables = {n: _source(n) for n in ("users", "alembic_version", "posts")}
    assert select_tables(tables, (), ("posts",)) == (
        ["users"], ["alembic_version (migration bookkeeping)", "posts (excluded)"])
    assert select_tables(tables, ("alembic_version",), ())[0] == ["alembic_version"]
    with pytest.raises(ImportRefused, match="no table 'nope'"):
        select_tables(tables, ("nope",), ())


def _target(name: str, *refs: str) -> TargetTable:
    table = TargetTable("public", name)
    table.constraints = [TargetConstraint(f"{name}_{r}_fk", "f", False, ("x",), ("public", r),
                                          "") for r in refs]
    return table


def test_load_order_puts_parents_first_and_returns_what_no_order_satisfies():
    ordered, loose = load_order([_target("c", "b", "c"), _target("b", "a"), _target("a")])
    assert [t.name for t in ordered] == ["a", "b", "c"]
    assert [fk.name for _, fk in loose] == ["c_c_fk"]
    ordered, loose = load_order([_target("x", "y"), _target("y", "x")])
    assert [t.name for t in ordered] == ["x", "y"] and [fk.name for _, fk in loose] == ["x_y_fk"]


def test_load_order_takes_the_largest_ready_table_next():
    # The bench's shape: the smallest table last, its proof the one with nothing beside it.
    tables = [_target("users"), _target("orders", "users"), _target("items", "orders"),
              _target("events", "users"), _target("files", "users")]
    rows = {("public", name): n for name, n in
            (("users", 2), ("orders", 5), ("items", 8), ("events", 4), ("files", 1))}
    ordered, loose = load_order(tables, rows)
    assert [t.name for t in ordered] == ["users", "orders", "items", "events", "files"]
    assert loose == []


# -- COPY text: SQLite's renderings agree with the Python converters ------------------------

def _column(base: str, typmod: int = -1) -> TargetColumn:
    return TargetColumn("c", base, base, "b", typmod, False, "", False, False, None)


EDGE_VALUES = [None, 0, 1, -1, 2, 2**31, -2**31 - 1, 2**63 - 1, 1.0, 0.5, "0", "1", "t",
               "abc", "a\tb\\c\nd\re", "a\x00b", "ünï ", "BB ", "", b"", b"\x00\xff",
               "2024-02-29 13:14:15", "2024-02-30 00:00:00", "2024-01-01 24:00:00",
               "0000-01-01 00:00:00", "0999-12-31 23:59:59", "2024-02-29T13:14:15",
               "2024-02-29 13:14:15+02:00", "2024-02-29 13:14:15.5", "2024-02-29",
               "2023-02-29", "1700000000", " 2024-02-29"]


@pytest.mark.parametrize(("base", "typmod"), [
    ("bool", -1), ("int2", -1), ("int4", -1), ("int8", -1), ("text", -1), ("varchar", 7),
    ("bpchar", 7), ("bytea", -1), ("timestamp", -1), ("timestamptz", -1), ("date", -1)])
def test_sqlite_renders_what_the_converter_writes(base, typmod):
    conversion = plan_conversion(_column(base, typmod), "")
    assert conversion.sqlite is not None
    condition, rendering = conversion.sqlite
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (c)")
    for value in EDGE_VALUES:
        db.execute("DELETE FROM t")
        db.execute("INSERT INTO t VALUES (?)", (value,))
        rendered = db.execute(f"SELECT CASE WHEN c IS NULL THEN '\\N' WHEN "
                              f"{condition.format('c')} THEN {rendering.format('c')} END "
                              "FROM t").fetchone()[0]
        try:
            expected = conversion.convert(value)
        except ConversionError:
            expected = None
        if rendered is not None and "\x00" not in rendered:  # lines.py: NUL -> Python
            assert rendered == expected, (base, value)


@pytest.mark.parametrize(("value", "text"), [
    (1.0, "1"), (-0.0, "-0"), (0.1, "0.1"), (1e15, "1e+15"), (-1234567890123456.8,
    "-1.2345678901234568e+15"), (999999999999999.9, "999999999999999.9"), (1e16, "1e+16"),
    (1.5e-7, "1.5e-07"), (0.0001, "0.0001"), (1e300, "1e+300"), (float("nan"), "NaN"),
    (float("-inf"), "-Infinity")])
def test_float_text_is_float8outs(value, text):
    assert float_text(value) == text


def test_numeric_and_jsonb_texts_are_the_servers():
    numeric2 = numeric_text_converter(2)
    assert [numeric2(v) for v in (7, 12.5, "-0.00", "1E+2")] == ["7.00", "12.50", "0.00",
                                                               "100.00"]
    assert numeric_text_converter(None)("1.50E-3") == "0.00150"
    assert numeric_text_converter(-2)(1200) == "1200"
    with pytest.raises(ConversionError, match="rounded"):
        numeric_text_converter(-2)(1234)


@pytest.mark.parametrize("scale", [0, 1, 2, 4, 9])
def test_numeric_text_of_floats_is_the_exact_decimals(scale):
    # The float fast path against Decimal's exact arithmetic, on the values around it.
    rnd = random.Random(scale)
    values = [rnd.randrange(-10**12, 10**12) / 10 ** rnd.randrange(0, 5) for _ in range(3000)]
    values += [0.5, -0.5, 0.125, 1e-9, 0.1 + 0.2, 2.675, 1e15 / 10 ** scale, -0.0, 0.0]
    convert = numeric_text_converter(scale)
    for value in values:
        exact = Decimal(repr(value))
        try:
            expected = decimal_text(exact.quantize(Decimal(1).scaleb(-scale)))
            if exact != round(exact, scale):
                expected = None
        except InvalidOperation:
            expected = None
        try:
            assert convert(value) == expected, value
        except ConversionError:
            assert expected is None, value


def test_numeric_scale_comes_from_the_typmod_signed():
    def scale_of(precision: int, scale: int) -> str:
        typmod = ((precision << 16) | (scale & 0x7FF)) + 4
        column = TargetColumn("n", "numeric", "numeric", "b", typmod, False, "", False,
                              False, None)
        return plan_conversion(column, "NUMERIC").convert(1200)
    assert scale_of(12, 2) == "1200.00"
    assert scale_of(5, -2) == "1200"
    assert to_jsonb_text('{"path": 1, "ms": [1.50e1, -0.0, 1E400], "a": {"b": 1, "a": 2},'
                         ' "a": "\\u00e9\\t"}') == (
        '{"a": "é\\t", "ms": [15.0, 0.0, 1' + "0" * 400 + '], "path": 1}')
    with pytest.raises(ConversionError, match="is not JSON"):
        to_jsonb_text("NaN")
    assert to_json_text('{"z":1,  "a":2}') == '{"z":1,  "a":2}'
