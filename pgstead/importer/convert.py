"""One converter per column, chosen by the target column's type.

A converter turns what SQLite stored (int, float, str, bytes or None, whatever the column's
declared affinity) into the column's value as COPY text, or raises ConversionError saying
why it cannot without losing something. The text is PostgreSQL's own output form of the
value (what the server prints it back as, with the import's session settings: TimeZone UTC,
DateStyle ISO, extra_float_digits 1, bytea_output hex), escaped for COPY: so the bytes
written are also the bytes the checksum hashes, and the server can render what it stored
into the same bytes with `pg_render` (checksum.py). Many columns also get an SQLite
expression giving the same text for the values it can vouch for (integers in range, 0/1,
plain text, blobs, canonical ISO timestamps), so SQLite's C code does that work; every
other value goes through the Python converter.
"""

from __future__ import annotations

import json
import math
import re
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Context, Decimal, InvalidOperation
from json.encoder import c_make_encoder, encode_basestring
from json.scanner import c_make_scanner

from pgstead.importer.target import TargetColumn

Converter = Callable[[object], object]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
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


NULL = "\\N"  # COPY text's NULL
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]").search


@dataclass(frozen=True)
class ColumnConversion:
    convert: Converter  # SQLite value -> its COPY text (None -> COPY's NULL)
    description: str  # what is done to the values, for the report ('' when nothing)
    pg_render: str  # SQL giving a stored value's text, "{}" the column (checksum.py)
    escaped: bool = False  # pg_render's text can hold what COPY escapes (text, JSON, bytea)
    # SQLite's own rendering: (condition, expression), "{}" the quoted column: where the
    # condition holds, the expression is exactly what `convert` would return.
    sqlite: tuple[str, str] | None = None


def _null_safe(function: Converter) -> Converter:
    def convert(value: object) -> object:
        return NULL if value is None else function(value)
    convert.__wrapped__ = function  # the hot loops test for None inline and call this
    return convert


def copy_escaped(text: str) -> str:
    """Text as COPY's text format reads it back: backslash, tab, newline, CR escaped."""
    if _COPY_SPECIAL(text) is None:
        return text
    return (text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
            .replace("\t", "\\t"))


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


# Wide enough for any numeric PostgreSQL holds: quantize must never round or overflow here.
_EXACT = Context(prec=200_000, Emax=999_999, Emin=-999_999)


def numeric_converter(scale: int | None) -> Converter:
    step = Decimal(1).scaleb(-scale) if scale is not None else None

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
        if number.is_snan():
            raise _fail(value, "a number")
        if step is not None and number.is_finite():
            if number.as_tuple().exponent < -scale and number != round(number, scale):
                raise ConversionError(f"{number} would be rounded to {scale} decimal places")
            number = number.quantize(step, context=_EXACT)  # the column's scale, as stored
        return number
    return to_decimal


def decimal_text(number: Decimal) -> str:
    """numeric_out's form: positional digits, no exponent, no negative zero."""
    if number.is_zero():
        number = number.copy_abs()
    return format(number, "f")


def numeric_text_converter(scale: int | None) -> Converter:
    to_decimal = numeric_converter(scale)

    places = scale if scale is not None and scale > 0 else 0  # a negative scale rounds ints
    zeros = "." + "0" * places if places else ""
    rounded = f".{places}f"
    # Below this a float's neighbours are nearer than a unit of the scale, so at most one
    # decimal of that scale reads back as it.
    unique_below = 10.0 ** (15 - places) if places else 0

    def to_numeric_text(value: object) -> str:
        if type(value) is int and (scale is None or scale >= 0):
            return f"{value}{zeros}"
        if type(value) is float and 0 < abs(value) < unique_below:
            # The common case (SQLite keeps NUMERIC text as REAL), without Decimal: the
            # float rounded to the scale, when that is what it stands for.
            text = format(value, rounded)
            if float(text) == value:
                return text
        return decimal_text(to_decimal(value))
    return to_numeric_text


def to_float(value: object) -> float:
    if type(value) is float or type(value) is int:
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise _fail(value, "a number")


def float_text(value: float) -> str:
    """float8out's form (shortest exact digits, as PostgreSQL 12+ prints with
    extra_float_digits 1): Python's repr, which has the same digits, in PostgreSQL's layout
    (no '.0', exponent from 1e15 up where Python starts at 1e16, Infinity)."""
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    text = repr(value)
    if "e" in text:
        return text
    if text.endswith(".0"):
        text = text[:-2]
    if abs(value) >= 1e15:  # 1e15 <= |value| < 1e16: fixed in Python, exponent in PostgreSQL
        sign = "-" if text.startswith("-") else ""
        digits = text.lstrip("-").replace(".", "").rstrip("0")
        text = f"{sign}{digits[0]}{'.' + digits[1:] if len(digits) > 1 else ''}e+15"
    return text


def to_float_text(value: object) -> str:
    # The common case first: between 1e-4 and 1e15 both print fixed, repr's digits as they
    # are but for a trailing '.0' (NaN and the infinities fail the comparison).
    if type(value) is float and 1e-4 <= abs(value) < 1e15:
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return float_text(to_float(value))


def to_single_text(value: object) -> str:
    """A real's text: the value rounded to single precision, printed as the double it is
    (the server renders the stored real the same way: ::float8::text)."""
    number = to_float(value)
    if math.isfinite(number):
        try:
            single = struct.unpack("f", struct.pack("f", number))[0]
        except OverflowError:
            single = math.inf
        if math.isinf(single) or (single == 0 and number != 0):
            raise ConversionError(f"{number!r} is out of range for real")
        number = single
    return float_text(number)


def text_converter(max_length: int | None, padded: bool = False) -> Converter:
    """Text as stored; `padded` (char(n)): trailing spaces do not count, as in PostgreSQL."""
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
        if padded:
            text = text.rstrip(" ")  # what char(n)::text gives back
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


def to_bytea_text(value: object) -> str:
    return "\\\\x" + to_bytes(value).hex()  # byteaout's hex form, its backslash escaped


class _NotPlain(Exception):
    """A JSON number with a fraction or exponent: rendered the slow way (jsonb_text)."""


def _plain_only(text: str) -> object:
    raise _NotPlain


def _no_constant(text: str) -> object:
    raise ValueError(f"{text} is not JSON")  # Python's json takes NaN and Infinity; JSON does not


def _jsonb_key(pair: tuple[str, object]) -> tuple[int, str]:
    key = pair[0]
    return (len(key) if key.isascii() else len(key.encode("utf-8")), key)


def _jsonb_object(pairs: list[tuple[str, object]]) -> dict:
    # jsonb's key order: shorter keys first, then bytewise (code point order is UTF-8's);
    # a repeated key keeps its last value, as in jsonb (a stable sort keeps it last).
    if len(pairs) == 2:  # the commonest object, ordered without a key function per pair
        (a, _), (b, _) = pairs
        if a.isascii() and b.isascii():
            ordered = len(a) < len(b) or (len(a) == len(b) and a <= b)
            return dict(pairs) if ordered else dict((pairs[1], pairs[0]))
    return dict(sorted(pairs, key=_jsonb_key)) if len(pairs) > 1 else dict(pairs)


class _JsonNumber(str):
    """A JSON number in numeric_out's form, written as it is (see _JSONB_SLOW)."""


def _json_number(text: str) -> _JsonNumber:
    return _JsonNumber(decimal_text(Decimal(text)))


def _scanner(**hooks: object) -> Callable[[str], object]:
    """A JSON parser calling the C scanner directly (json.loads adds two Python calls and two
    regex matches per value); whitespace around the value and errors go the usual way."""
    decoder = json.JSONDecoder(**hooks)
    scan = c_make_scanner(decoder) if c_make_scanner is not None else None

    def parse(text: str) -> object:
        if scan is not None:
            try:
                value, end = scan(text, 0)
            except StopIteration:
                pass
            else:
                if end == len(text):
                    return value
        return decoder.decode(text)
    return parse


_JSONB = _scanner(object_pairs_hook=_jsonb_object, parse_float=_plain_only,
                  parse_constant=_no_constant)
_JSONB_SLOW = _scanner(object_pairs_hook=_jsonb_object, parse_float=_json_number,
                       parse_constant=_no_constant)
_JSON = _scanner(parse_constant=_no_constant)


def _encoder() -> Callable[[object], str]:
    """jsonb_out's layout, from an encoder built once: JSONEncoder.encode builds its C
    encoder anew on every call."""
    if c_make_encoder is None:
        return json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "),
                                check_circular=False).encode
    encode = c_make_encoder(None, None, encode_basestring, None, ": ", ", ", False, False,
                            True)
    return lambda value: "".join(encode(value, 0))


_JSONB_OUT = _encoder()


def _jsonb_out_slow(value: object) -> str:
    if type(value) is dict:
        return "{" + ", ".join(f"{_JSONB_OUT(k)}: {_jsonb_out_slow(v)}"
                               for k, v in value.items()) + "}"
    if type(value) is list:
        return "[" + ", ".join(map(_jsonb_out_slow, value)) + "]"
    if type(value) is _JsonNumber:
        return str.__str__(value)
    return _JSONB_OUT(value)


def _json_source(value: object) -> str:
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise _fail(value, "UTF-8 JSON") from None
    if isinstance(value, str):
        if "\\u0000" in value or "\x00" in value:
            raise ConversionError(f"{_shown(value)} holds \\u0000, which PostgreSQL JSON "
                                  "cannot")
        return value
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        return json.dumps(value)
    raise _fail(value, "JSON")


def to_json_text(value: object) -> str:
    """A json column's text: the app's own JSON text, validated, as json keeps it."""
    text = _json_source(value)
    try:
        _JSON(text)
    except ValueError:
        raise _fail(value, "JSON") from None
    return text


def to_jsonb_text(value: object) -> str:
    """A jsonb column's text as jsonb_out prints it: keys in jsonb's order, duplicates
    dropped, its spacing, numbers as numeric prints them (1.50e1 -> 15.0)."""
    text = _json_source(value)
    try:
        try:
            out = _JSONB_OUT(_JSONB(text))
        except _NotPlain:
            out = _jsonb_out_slow(_JSONB_SLOW(text))
    except (ValueError, RecursionError):
        raise _fail(value, "JSON") from None
    if not out.isascii():
        try:
            out.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from a \\ud800 escape
            raise _fail(value, "JSON PostgreSQL accepts (a lone \\u surrogate)") from None
    return out


def to_jsonb_copy_text(value: object) -> str:
    """to_jsonb_text escaped for COPY: jsonb_out's text holds no tab, newline or CR (JSON
    escapes them inside strings), so only a backslash needs escaping."""
    out = to_jsonb_text(value)
    return out.replace("\\", "\\\\") if "\\" in out else out


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
            moment = time.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                return moment
            raise ConversionError(f"{_shown(value)} has an offset, which a time column "
                                  "would drop")
    raise _fail(value, "a time of day (HH:MM[:SS[.ffffff]])")


def clock_text(text: str, microsecond: int) -> str:
    """An isoformat() time of day as PostgreSQL prints it: no trailing zeros in the
    fraction."""
    return text.rstrip("0") if microsecond else text


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


def time_text_converter(base: str, unit: str, precision: int = 6) -> Converter:
    """The text of time_converter's value as the server prints it with TimeZone UTC."""
    to_moment = time_converter(base, unit, precision)
    if base == "date":
        return lambda value: to_moment(value).isoformat()
    if base == "timestamp":
        def to_timestamp_text(value: object) -> str:
            moment = to_moment(value)
            return clock_text(moment.isoformat(" "), moment.microsecond)
        return to_timestamp_text

    def to_timestamptz_text(value: object) -> str:
        moment = to_moment(value)
        if moment.utcoffset():
            moment = moment.astimezone(UTC)
        return clock_text(moment.isoformat(" ")[:-6], moment.microsecond) + "+00"
    return to_timestamptz_text


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

# COPY's escapes in SQLite (whose string literals have none: '\' is one backslash), only
# for text holding a character to escape: one GLOB scan costs less than four replace().
_SQLITE_ESCAPED = ("CASE WHEN {0} GLOB '*[\\' || char(9) || char(10) || char(13) || ']*' THEN "
                   "replace(replace(replace(replace({0}, '\\', '\\\\'), char(10), '\\n'), "
                   "char(13), '\\r'), char(9), '\\t') ELSE {0} END")
_SQLITE_CANONICAL_STAMP = ("typeof({0}) = 'text' AND length({0}) = 19 AND {0} >= '0001' "
                           "AND datetime({0}, '+0 seconds') = {0}")  # a real date and time


def _sqlite_text(limit: int | None, padded: bool) -> tuple[str, str]:
    value = "rtrim({}, ' ')" if padded else "{}"
    condition = "typeof({0}) = 'text'"
    if limit is not None:
        condition += f" AND length({value.format('{0}')}) <= {limit}"
    return condition, _SQLITE_ESCAPED.format(value.format("{0}"))


def _sqlite_time(base: str) -> tuple[str, str] | None:
    if base == "date":
        return ("typeof({0}) = 'text' AND length({0}) = 10 AND {0} >= '0001' "
                "AND date({0}, '+0 days') = {0}", "{}")
    return _SQLITE_CANONICAL_STAMP, "{}" if base == "timestamp" else "{} || '+00'"


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
    as_text = "{}::text"
    if base == "bool":
        return ColumnConversion(_null_safe(lambda v: "t" if to_bool(v) else "f"),
                                f"{source} 0/1 or t/f -> boolean",
                                "CASE {} WHEN true THEN 't' WHEN false THEN 'f' END",
                                sqlite=("typeof({0}) = 'integer' AND {0} IN (0, 1)",
                                        "CASE {} WHEN 1 THEN 't' ELSE 'f' END"))
    if base in _INT_RANGE:
        to_int, bound = int_converter(base), _INT_RANGE[base]
        in_range = "" if base == "int8" else f" AND {{0}} BETWEEN {-bound} AND {bound - 1}"
        return ColumnConversion(_null_safe(lambda v: str(to_int(v))), "", as_text,
                                sqlite=("typeof({0}) = 'integer'" + in_range,
                                        "CAST({} AS TEXT)"))
    if base == "numeric":
        # numeric(p, s)'s typmod: s in its low 11 bits, signed (PostgreSQL 15 allows s < 0).
        scale = (((column.typmod - 4) & 0x7FF) ^ 0x400) - 0x400 if column.typmod >= 4 else None
        return ColumnConversion(_null_safe(numeric_text_converter(scale)),
                                f"{source} -> numeric (exact decimal)", as_text)
    if base == "float4":
        # Rendered as the double it is: the shortest text of a real alone is not Python's.
        return ColumnConversion(_null_safe(to_single_text), "-> real (single precision)",
                                "{}::float8::text")
    if base == "float8":
        return ColumnConversion(_null_safe(to_float_text), "", as_text)
    if base in _TEXT_TYPES:
        padded = base == "bpchar"
        limit = column.typmod - 4 if base in ("varchar", "bpchar") and column.typmod >= 4 \
            else None
        to_text = text_converter(limit, padded)
        return ColumnConversion(_null_safe(lambda v: copy_escaped(to_text(v))), "", as_text,
                                escaped=True, sqlite=_sqlite_text(limit, padded))
    if base == "jsonb":
        return ColumnConversion(_null_safe(to_jsonb_copy_text),
                                "JSON text -> jsonb (validated)", as_text, escaped=True)
    if base == "json":
        return ColumnConversion(_null_safe(lambda v: copy_escaped(to_json_text(v))),
                                "JSON text -> json (validated)", as_text, escaped=True)
    if base == "bytea":
        return ColumnConversion(_null_safe(to_bytea_text),
                                "" if "blob" in source else f"{source} -> bytea", as_text,
                                escaped=True,
                                sqlite=("typeof({0}) = 'blob'", "'\\\\x' || lower(hex({}))"))
    if base == "uuid":
        return ColumnConversion(_null_safe(lambda v: str(to_uuid(v))), f"{source} -> uuid",
                                as_text)
    if base == "time":
        def to_time_text(value: object) -> str:
            moment = to_time_of_day(value)
            return clock_text(moment.isoformat(), moment.microsecond)
        return ColumnConversion(_null_safe(to_time_text), "ISO text -> time", as_text)
    extent, numbers, texts = time_stats or (None, 0, 0)
    unit = epoch_unit(extent)
    precision = column.typmod if base != "date" and column.typmod >= 0 else 6
    return ColumnConversion(_null_safe(time_text_converter(base, unit, precision)),
                            _time_description(base, unit, extent, numbers, texts), as_text,
                            sqlite=_sqlite_time(base))
