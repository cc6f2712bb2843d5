"""One converter per column, chosen by the target column's type.

A converter turns what SQLite stored (int, float, str, bytes or None, whatever the column's
declared affinity) into the Python value psycopg writes for the target type, or raises
ConversionError saying why it cannot without losing something. Each column also gets the
normalisers that make a source value and the value read back from the server compare equal
exactly when they mean the same thing (see checksum.py), and the type name psycopg reads it
back with.
"""

from __future__ import annotations

import json
import math
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from psycopg import postgres
from psycopg.adapt import AdaptersMap, Dumper
from psycopg.pq import Format

from pgstead.importer.target import TargetColumn

Converter = Callable[[object], object]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_TRUE = frozenset({"t", "true", "1", "y", "yes", "on"})
_FALSE = frozenset({"f", "false", "0", "n", "no", "off"})
_INT_RANGE = {"int2": 2**15, "int4": 2**31, "int8": 2**63}
_TEXT_TYPES = frozenset({"text", "varchar", "bpchar", "citext", "name"})
# Epoch numbers at or above these are taken as milliseconds / microseconds: 1e11 seconds is
# the year 5138, 1e11 milliseconds is 1973.
_MS_FROM, _US_FROM = 1e11, 1e14
TIME_TYPES = frozenset({"timestamp", "timestamptz", "date"})
SUPPORTED = frozenset({"bool", "numeric", "float4", "float8", "json", "jsonb", "bytea", "uuid",
                       "time", *_INT_RANGE, *_TEXT_TYPES, *TIME_TYPES})


class ConversionError(ValueError):
    """A value that cannot become the target type without loss."""


class UnsupportedType(ValueError):
    """A target type the importer has no converter for."""


@dataclass(frozen=True)
class ColumnConversion:
    convert: Converter  # SQLite value -> value written (None passes through)
    source_norm: Converter | None  # converted value -> comparable form (None: as it is)
    target_norm: Converter | None  # value read back -> comparable form
    read_type: str  # the type psycopg reads the binary COPY column back as
    description: str  # what is done to the values, for the report ('' when nothing)
    read_as_text: bool = False  # read back as ::text (JSON: its null is not SQL's NULL)
    write_type: str = ""  # the type psycopg writes the binary COPY column as ('': read_type)


def _null_safe(function: Converter) -> Converter:
    def convert(value: object) -> object:
        return None if value is None else function(value)
    convert.__wrapped__ = function  # the hot loops test for None inline and call this
    return convert


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(value: object, expected: str) -> ConversionError:
    return ConversionError(f"{_shown(value)} is not {expected}")


# -- booleans, numbers, text -------------------------------------------------------------

def to_bool(value: object) -> bool:
    if type(value) is int or type(value) is float:
        if value in (0, 1):
            return bool(value)
    elif isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise _fail(value, "a boolean (0/1, t/f, true/false, yes/no, on/off)")


def int_converter(base: str) -> Converter:
    bound = _INT_RANGE[base]

    def to_int(value: object) -> int:
        if type(value) is int:
            number = value
        elif ((type(value) is float and value.is_integer())
              or (isinstance(value, str) and value.strip().lstrip("+-").isdigit())):
            number = int(value)
        else:
            raise _fail(value, "an integer")
        if not -bound <= number < bound:
            raise ConversionError(f"{number} is out of range for {base}")
        return number
    return to_int


def numeric_converter(scale: int | None) -> Converter:
    def to_decimal(value: object) -> Decimal:
        try:
            if type(value) is int:
                number = Decimal(value)
            elif type(value) is float:
                number = Decimal(repr(value))  # the shortest text that reads back as it
            elif isinstance(value, str):
                number = Decimal(value.strip())
            else:
                raise InvalidOperation
        except InvalidOperation:
            raise _fail(value, "a number") from None
        if (scale is not None and number.is_finite()
                and number.as_tuple().exponent < -scale
                and number != round(number, scale)):
            raise ConversionError(f"{number} would be rounded to {scale} decimal places")
        return number
    return to_decimal


def to_float(value: object) -> float:
    if type(value) is float or type(value) is int:
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise _fail(value, "a number")


def to_single(value: float) -> float | str:
    return "NaN" if value != value else struct.unpack("f", struct.pack("f", value))[0]


def nan_marked(value: float) -> float | str:
    """NaN is not equal to itself, so it could never compare equal: a marker instead."""
    return "NaN" if value != value else value


def text_converter(max_length: int | None) -> Converter:
    def to_text(value: object) -> str:
        if isinstance(value, str):
            text = value
        elif type(value) is int:
            text = str(value)
        elif type(value) is float:
            text = repr(value)
        elif isinstance(value, bytes):
            try:
                text = value.decode("utf-8")
            except UnicodeDecodeError:
                raise _fail(value, "UTF-8 text") from None
        else:
            raise _fail(value, "text")
        if "\x00" in text:
            raise ConversionError(f"{_shown(value)} holds a NUL character, which "
                                  "PostgreSQL text cannot")
        if max_length is not None and len(text) > max_length:
            raise ConversionError(f"{_shown(value)} is longer than {max_length} characters")
        return text
    return to_text


def to_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise _fail(value, "a blob")


class JsonText(str):
    """JSON text as the app wrote it (what the server is sent), with its canonical form
    from the one parse that validated it (what the checksum compares)."""

    __slots__ = ("canonical",)


class JsonTextBinaryDumper(Dumper):
    """Already-valid JSON text in COPY's binary format for json: the text itself (psycopg's
    own dumper would encode the str again as a JSON string)."""

    format = Format.BINARY
    oid = postgres.types["json"].oid

    def dump(self, obj: str) -> bytes:
        return obj.encode()


class JsonbTextBinaryDumper(JsonTextBinaryDumper):
    """jsonb's binary format: version 1, then the text."""

    oid = postgres.types["jsonb"].oid

    def dump(self, obj: str) -> bytes:
        return b"\x01" + obj.encode()


def register_json_text(adapters: AdaptersMap) -> None:
    """Make a COPY with set_types(['json'|'jsonb']) take JsonText as it is."""
    adapters.register_dumper(None, JsonTextBinaryDumper)
    adapters.register_dumper(None, JsonbTextBinaryDumper)


def to_json_text(value: object) -> JsonText:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="strict")
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            raise _fail(value, "JSON") from None
        if "\\u0000" in value:
            raise ConversionError(f"{_shown(value)} holds \\u0000, which PostgreSQL JSON "
                                  "cannot")
        text = JsonText(value)
    elif type(value) is int or (type(value) is float and math.isfinite(value)):
        parsed = value
        text = JsonText(json.dumps(value))
    else:
        raise _fail(value, "JSON")
    text.canonical = canonical_json(parsed)
    return text


# Built once: json.dumps with options builds a new encoder on every call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: object) -> str:
    return _CANONICAL.encode(value)


def to_uuid(value: object) -> uuid.UUID:
    try:
        if isinstance(value, bytes) and len(value) == 16:
            return uuid.UUID(bytes=value)
        if isinstance(value, str):
            return uuid.UUID(value.strip())
    except ValueError:
        pass
    raise _fail(value, "a UUID (text or 16 bytes)")


def to_time_of_day(value: object) -> time:
    if isinstance(value, str):
        try:
            return time.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _fail(value, "a time of day (HH:MM[:SS[.ffffff]])")


# -- timestamps and dates ----------------------------------------------------------------

def epoch_unit(extent: float | None) -> str:
    """Seconds, milliseconds or microseconds, from the largest number the column holds."""
    if extent is None or extent < _MS_FROM:
        return "s"
    return "ms" if extent < _US_FROM else "us"


_UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds"}
_UNIT_STEP = {"s": timedelta(seconds=1), "ms": timedelta(milliseconds=1),
              "us": timedelta(microseconds=1)}


def time_converter(base: str, unit: str, precision: int = 6) -> Converter:
    step = _UNIT_STEP[unit]
    grain = 10 ** (6 - precision) if base != "date" and 0 <= precision < 6 else 1

    def parse(value: object) -> datetime:
        """An aware (from epoch numbers) or naive (from ISO text without offset) datetime."""
        if isinstance(value, str):
            text = value.strip()
            if text.lstrip("+-").isdigit():
                value = int(text)
            else:
                try:
                    return datetime.fromisoformat(text)
                except ValueError:
                    raise _fail(value, "an ISO 8601 date or time, or epoch number") from None
        if type(value) is int or type(value) is float:
            try:
                return EPOCH + value * step
            except (OverflowError, ValueError):
                raise ConversionError(f"{value} epoch {_UNIT_NAMES[unit]} is out of "
                                      "range") from None
        raise _fail(value, "a date or time")

    def precise(value: object) -> datetime:
        moment = parse(value)
        if moment.microsecond % grain:
            raise ConversionError(f"{_shown(value)} has more than {precision} fractional "
                                  "digits, which the column would round away")
        return moment

    instant = precise if grain > 1 else parse

    if base == "timestamptz":
        def to_timestamptz(value: object) -> datetime:
            moment = instant(value)
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return to_timestamptz
    if base == "timestamp":
        def to_timestamp(value: object) -> datetime:
            moment = instant(value)
            if moment.tzinfo:
                moment = moment.astimezone(UTC).replace(tzinfo=None)
            return moment
        return to_timestamp

    def to_date(value: object) -> date:
        moment = instant(value)
        if moment.tzinfo:
            moment = moment.astimezone(UTC)
        if moment.time() != time(0):
            raise ConversionError(f"{_shown(value)} has a time of day ({moment.time()}), "
                                  "which a date column would drop")
        return moment.date()
    return to_date


def _time_description(base: str, unit: str, extent: float | None, numbers: int,
                      texts: int) -> str:
    parts = []
    if numbers:
        largest = EPOCH + (extent or 0) * _UNIT_STEP[unit]
        parts.append(f"epoch {_UNIT_NAMES[unit]} (chosen from the largest, "
                     f"{extent:.0f} = {largest:%Y-%m-%d})")
    if texts:
        parts.append("ISO 8601 text" + (" (no offset: read as UTC)"
                                        if base == "timestamptz" else ""))
    return " and ".join(parts) + f" -> {base}" if parts else ""


# -- choosing --------------------------------------------------------------------------

def plan_conversion(column: TargetColumn, declared_source: str,
                    time_stats: tuple[float | None, int, int] | None = None
                    ) -> ColumnConversion:
    """The conversion into `column`; time_stats = (largest number, numbers, texts) for
    timestamp and date columns."""
    base = "text" if column.type_kind == "e" else column.base_type
    if base not in SUPPORTED:
        raise UnsupportedType(f"type {column.declared} is not one the importer converts to "
                              f"(supported: {', '.join(sorted(SUPPORTED))}, enums, domains)")
    source = (declared_source or "untyped").lower()
    if base == "bool":
        return ColumnConversion(_null_safe(to_bool), None, None, "bool",
                                f"{source} 0/1 or t/f -> boolean")
    if base in _INT_RANGE:
        return ColumnConversion(_null_safe(int_converter(base)), None, None, base, "")
    if base == "numeric":
        scale = (column.typmod - 4) & 0xFFFF if column.typmod >= 4 else None
        # Decimal's == and hash ignore trailing zeros (1.5 == 1.50): nothing to normalise.
        return ColumnConversion(_null_safe(numeric_converter(scale)), None, None, "numeric",
                                f"{source} -> numeric (exact decimal)")
    if base in ("float4", "float8"):
        if base == "float4":
            norm = _null_safe(to_single)
            return ColumnConversion(_null_safe(to_float), norm, norm, base,
                                    "-> real (single precision)")
        norm = _null_safe(nan_marked)
        return ColumnConversion(_null_safe(to_float), norm, norm, base, "")
    if base in _TEXT_TYPES:
        limit = column.typmod - 4 if base in ("varchar", "bpchar") and column.typmod >= 4 \
            else None
        norm = _null_safe(lambda v: v.rstrip(" ")) if base == "bpchar" else None
        return ColumnConversion(_null_safe(text_converter(limit)), norm, norm, "text", "")
    if base in ("json", "jsonb"):
        return ColumnConversion(_null_safe(to_json_text),
                                _null_safe(lambda v: v.canonical),
                                _null_safe(lambda v: canonical_json(json.loads(v))), "text",
                                f"JSON text -> {base} (validated)", read_as_text=True,
                                write_type=base)
    if base == "bytea":
        return ColumnConversion(_null_safe(to_bytes), None, None, "bytea",
                                "" if "blob" in source else f"{source} -> bytea")
    if base == "uuid":
        return ColumnConversion(_null_safe(to_uuid), None, None, "uuid", f"{source} -> uuid")
    if base == "time":
        return ColumnConversion(_null_safe(to_time_of_day), None, None, "time",
                                "ISO text -> time")
    extent, numbers, texts = time_stats or (None, 0, 0)
    unit = epoch_unit(extent)
    # Aware datetimes compare and hash by their instant, whatever the offset: no normaliser.
    norm = None
    precision = column.typmod if base != "date" and column.typmod >= 0 else 6
    return ColumnConversion(_null_safe(time_converter(base, unit, precision)), norm, norm, base,
                            _time_description(base, unit, extent, numbers, texts))
