"""Server-parameter values: read them the way PostgreSQL does, and compare them with pg_settings.

A value from the YAML ("256MB", "1min", True, 200, 0.9, "ddl") is turned into exactly the text
`pg_settings.setting` shows once the server has it: memory and time in the parameter's base
unit, bools as on/off, enums as listed, reals as C's %g. Comparing that canonical text with the
live setting is what lets a second apply change nothing.
"""

from __future__ import annotations

import datetime
import math
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pgstead.postgres.catalog import Parameter


class SettingValueError(ValueError):
    """A value that PostgreSQL would refuse for the parameter; the message says what fits."""


# Unit names PostgreSQL accepts, largest first; each unit's "next smaller" one is the next in
# its list (PostgreSQL rounds fractional input to that). Case matters, as it does in the server.
_MEMORY_UNITS: tuple[tuple[str, int], ...] = (
    ("TB", 1024**4),
    ("GB", 1024**3),
    ("MB", 1024**2),
    ("kB", 1024),
    ("B", 1),
)
_TIME_UNITS_US: tuple[tuple[str, int], ...] = (
    ("d", 86_400_000_000),
    ("h", 3_600_000_000),
    ("min", 60_000_000),
    ("s", 1_000_000),
    ("ms", 1_000),
    ("us", 1),
)
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1

_BOOL_WORDS: tuple[tuple[str, int, bool], ...] = (
    # (word, shortest prefix PostgreSQL accepts, meaning)
    ("true", 1, True),
    ("false", 1, False),
    ("yes", 1, True),
    ("no", 1, False),
    ("on", 2, True),
    ("off", 2, False),
)

# Enums with on/off also take these spellings, which pg_settings.enumvals hides.
_ENUM_BOOL_ALIASES = {"true": "on", "yes": "on", "1": "on", "false": "off", "no": "off", "0": "off"}
# Hidden enum spellings and the value pg_settings.setting then shows.
_ENUM_ALIASES = {"archive": "replica", "hot_standby": "replica", "debug": "debug2"}
# Per-parameter spellings whose shown value differs from the one written.
_PARAMETER_ENUM_ALIASES = {"wal_compression": {"on": "pglz"}}

# Integer parameters whose pg_settings.setting is octal text (their show hooks print %04o).
_OCTAL_SHOWN = frozenset({"unix_socket_permissions", "log_file_mode", "data_directory_mode"})
# String parameters that are comma-separated lists (GUC_LIST_INPUT): "a,b" and "a, b" mean the
# same. ALTER SYSTEM / SET must get them as one literal per item (see split_list): a single
# literal 'a,b' becomes one item named "a,b".
LIST_PARAMETERS = frozenset(
    {
        "search_path",
        "shared_preload_libraries",
        "session_preload_libraries",
        "local_preload_libraries",
        "temp_tablespaces",
        "log_destination",
        "listen_addresses",
        "unix_socket_directories",
        "datestyle",
        "debug_io_direct",
        "wal_consistency_checking",
        "synchronized_standby_slots",
    }
)
# String parameters whose check hooks normalise case (the live value is upper/mixed case).
_CASELESS_STRINGS = frozenset({"datestyle", "timezone", "log_timezone", "client_encoding"})

_C_SPACE = " \t\n\v\f\r"
_INT_PREFIX = re.compile(r"[ \t\n\v\f\r]*[+-]?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_REAL_PREFIX = re.compile(
    r"[ \t\n\v\f\r]*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?|nan)",
    re.IGNORECASE,
)


def to_postgres_text(value: object) -> str:
    """A YAML scalar as the text PostgreSQL reads: True -> 'on', 200 -> '200', 0.9 -> '0.9'."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back as the same double
    if isinstance(value, str):
        return value
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, list | tuple) and all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in value
    ):
        return ", ".join(to_postgres_text(v) for v in value)
    if value is None:
        raise SettingValueError("expected a value, got nothing (an empty YAML value)")
    raise SettingValueError(f"expected a single value, got {type(value).__name__} {value!r}")


def _unit_kind(unit: str | None) -> tuple[str, int] | None:
    """('memory', bytes per base unit) or ('time', microseconds per base unit) for a unit."""
    if not unit:
        return None
    match = re.fullmatch(r"([0-9]*)([A-Za-z]+)", unit)
    if match is None:
        raise ValueError(f"unknown PostgreSQL unit {unit!r}")
    count = int(match.group(1) or 1)
    for kind, table in (("memory", _MEMORY_UNITS), ("time", _TIME_UNITS_US)):
        for name, size in table:
            if name == match.group(2):
                return kind, count * size
    raise ValueError(f"unknown PostgreSQL unit {unit!r}")


def _expected(vartype: str, unit: str | None) -> str:
    kind = _unit_kind(unit)
    if kind is None:
        return "an integer" if vartype == "integer" else "a number"
    if kind[0] == "memory":
        return f"a memory size like 256MB (unit {unit})"
    return f"a duration like 1min or 500ms (unit {unit})"


def _unit_hint(unit: str | None) -> str:
    kind = _unit_kind(unit)
    if kind is None:
        return ""
    table = _MEMORY_UNITS if kind[0] == "memory" else _TIME_UNITS_US
    names = ", ".join(name for name, _ in table)
    return f"; units are {names} (case matters)"


def _apply_unit(number: float, unit_text: str, unit: str | None) -> float | None:
    """`number` `unit_text` in the parameter's base unit, rounded as PostgreSQL rounds."""
    kind = _unit_kind(unit)
    if kind is None:
        return None
    table = _MEMORY_UNITS if kind[0] == "memory" else _TIME_UNITS_US
    base = kind[1]
    for i, (name, size) in enumerate(table):
        if name == unit_text:
            value = number * (size / base)
            # Fractional input ("1.5GB") is rounded to a whole number of the next smaller unit.
            if i + 1 < len(table):
                step = table[i + 1][1] / base
                value = round(value / step) * step
            return value
    return None


def _split_number(text: str, pattern: re.Pattern[str]) -> tuple[str, str] | None:
    match = pattern.match(text)
    if match is None or not match.group().strip(_C_SPACE):
        return None
    return match.group(), text[match.end() :]


def _read_number(text: str, vartype: str, unit: str | None) -> float:
    """The value in base units, following PostgreSQL's parse_int / parse_real."""
    bad = SettingValueError(f"expected {_expected(vartype, unit)}, got {text!r}{_unit_hint(unit)}")
    parts = None
    number: float = 0.0
    if vartype == "integer":
        # Like strtol then strtod: a decimal point or exponent makes it a real, rounded later;
        # anything else that is not a plain (octal, hex, decimal) integer is refused.
        parts = _split_number(text, _INT_PREFIX)
        if parts is None and not text.lstrip(_C_SPACE).startswith("."):
            raise bad
        if parts is not None and not parts[1].startswith((".", "e", "E")):
            number = _c_strtol(parts[0])
        else:
            parts = None
    if parts is None:
        parts = _split_number(text, _REAL_PREFIX)
        if parts is None:
            raise bad
        number = float(parts[0].strip(_C_SPACE))
    if math.isnan(number):
        raise bad
    rest = parts[1].strip(_C_SPACE)
    if rest:
        # PostgreSQL allows space between number and unit but not inside the unit.
        if any(c in _C_SPACE for c in rest):
            raise bad
        converted = _apply_unit(number, rest, unit)
        if converted is None:
            raise bad
        number = converted
    return number


def _c_strtol(text: str) -> float:
    body = text.strip(_C_SPACE)
    sign = -1 if body.startswith("-") else 1
    digits = body.lstrip("+-")
    if digits[:2] in ("0x", "0X"):
        value = int(digits[2:], 16)
    elif digits.startswith("0") and len(digits) > 1:
        value = int(digits, 8)
    else:
        value = int(digits)
    return float(sign * value)


def _range_text(bound: float, vartype: str, unit: str | None) -> str:
    text = str(int(bound)) if vartype == "integer" else format(bound, "g")
    return humanise(text, unit) if unit else text


def _check_range(
    number: float, vartype: str, unit: str | None, min_val: float | None, max_val: float | None
) -> None:
    too_low = min_val is not None and number < min_val
    too_high = max_val is not None and number > max_val
    if too_low or too_high:
        shown = str(int(number)) if vartype == "integer" else format(number, "g")
        in_units = f" (in units of {unit})" if unit else ""
        low = _range_text(min_val, vartype, unit) if min_val is not None else "-inf"
        high = _range_text(max_val, vartype, unit) if max_val is not None else "inf"
        raise SettingValueError(f"{shown}{in_units} is outside the valid range {low} .. {high}")


def _parse_bool(text: str) -> str:
    lowered = text.lower()
    if lowered in ("1", "0"):
        return "on" if lowered == "1" else "off"
    for word, shortest, meaning in _BOOL_WORDS:
        if len(lowered) >= shortest and word.startswith(lowered):
            return "on" if meaning else "off"
    raise SettingValueError(f"expected on or off (also true/false, yes/no, 1/0), got {text!r}")


def _parse_enum(text: str, enumvals: tuple[str, ...] | list[str] | None, name: str | None) -> str:
    lowered = text.lower()
    values = tuple(enumvals or ())
    aliases = dict(_ENUM_ALIASES)
    if not values or ("on" in values and "off" in values):
        aliases.update(_ENUM_BOOL_ALIASES)
    aliases.update(_PARAMETER_ENUM_ALIASES.get((name or "").lower(), {}))
    lowered = aliases.get(lowered, lowered)
    for value in values:
        if value.lower() == lowered:
            return value
    if not values:
        # Without the list of values only the spelling can be normalised.
        return lowered
    raise SettingValueError(f"expected one of {', '.join(values)}; got {text!r}")


def _format_number(number: float, vartype: str, name: str | None) -> str:
    if vartype == "real":
        return format(number, "g")
    if (name or "").lower() in _OCTAL_SHOWN:
        return format(int(number), "04o")
    return str(int(number))


def parse(
    value: object,
    vartype: str,
    unit: str | None,
    *,
    enumvals: tuple[str, ...] | list[str] | None = None,
    min_val: float | None = None,
    max_val: float | None = None,
    name: str | None = None,
) -> str:
    """Validate `value` and return it as pg_settings.setting will show it.

    '256MB' with unit 8kB -> '32768'; '1min' with unit s -> '60'; 'ON' -> 'on'; 'DDL' -> 'ddl'.
    `name` (optional) enables the few parameter-specific spellings PostgreSQL has.
    Raises SettingValueError saying what was expected.
    """
    text = value if isinstance(value, str) else to_postgres_text(value)
    if vartype == "bool":
        return _parse_bool(text)
    if vartype == "enum":
        return _parse_enum(text, enumvals, name)
    if vartype == "string":
        return text
    if vartype not in ("integer", "real"):
        raise ValueError(f"unknown PostgreSQL vartype {vartype!r}")
    number = _read_number(text, vartype, unit)
    if vartype == "integer":
        if math.isinf(number) or not _INT_MIN <= round(number) <= _INT_MAX:
            raise SettingValueError(f"{text!r} exceeds the integer range")
        number = float(round(number))  # rint: halves go to the even neighbour, as in C
    elif math.isinf(number) and min_val is None and max_val is None:
        raise SettingValueError(f"expected a finite number, got {text!r}")
    _check_range(number, vartype, unit, min_val, max_val)
    return _format_number(number, vartype, name)


def same_for(param: Parameter, desired: object, live_setting: str) -> bool:
    """`same` against a catalog Parameter, taking a raw YAML scalar."""
    return same(
        to_postgres_text(desired),
        live_setting,
        param.vartype,
        param.unit,
        enumvals=param.enumvals,
        name=param.name,
    )


def parse_for(param: Parameter, value: object) -> str:
    """`parse` against a catalog Parameter, taking a raw YAML scalar."""
    if not param.settable:
        raise SettingValueError(f"{param.name} is a read-only (internal) parameter")
    return parse(
        to_postgres_text(value),
        param.vartype,
        param.unit,
        enumvals=param.enumvals,
        min_val=param.min_val,
        max_val=param.max_val,
        name=param.name,
    )


def is_list(name: str) -> bool:
    """True if the parameter takes a comma-separated list (search_path, *_preload_libraries...)."""
    return name.lower() in LIST_PARAMETERS


def split_list(value: str) -> list[str]:
    """The items of a list value as PostgreSQL reads it: '"$user", public' -> ['$user', 'public'].

    Commas inside double quotes do not split; the quotes themselves are removed ("" -> ").
    """
    items: list[str] = []
    current: list[str] = []
    quoted = False
    i = 0
    while i < len(value):
        char = value[i]
        if char == '"':
            if quoted and value[i + 1 : i + 2] == '"':
                current.append('"')
                i += 1
            else:
                quoted = not quoted
        elif char == "," and not quoted:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
        i += 1
    items.append("".join(current).strip())
    return [item for item in items if item]


def same(
    desired: str,
    live_setting: str,
    vartype: str,
    unit: str | None,
    *,
    enumvals: tuple[str, ...] | list[str] | None = None,
    name: str | None = None,
) -> bool:
    """True if `desired` (any spelling PostgreSQL accepts) is what pg_settings.setting shows.

    Raises SettingValueError if `desired` is not a valid value of that type.
    """
    key = (name or "").lower()
    wanted = parse(desired, vartype, unit, enumvals=enumvals, name=name)
    if vartype == "real":
        return math.isclose(float(wanted), float(live_setting), rel_tol=1e-6, abs_tol=0.0)
    if vartype == "enum":
        live = live_setting.lower()
        if wanted.lower() == live:
            return True
        # Without a name, still recognise a spelling the server shows under another value.
        return name is None and any(
            aliases.get(wanted.lower()) == live for aliases in _PARAMETER_ENUM_ALIASES.values()
        )
    if vartype == "string":
        if key in LIST_PARAMETERS:
            wanted_items, live_items = split_list(wanted), split_list(live_setting)
            if key in _CASELESS_STRINGS:
                return [w.lower() for w in wanted_items] == [v.lower() for v in live_items]
            return wanted_items == live_items
        if key in _CASELESS_STRINGS:
            return wanted.lower() == live_setting.lower()
    return wanted == live_setting


def humanise(setting: str, unit: str | None) -> str:
    """A pg_settings.setting in the largest exact unit, as SHOW prints it.

    '32768' with unit 8kB -> '256MB'; for plans and reports.
    """
    kind = _unit_kind(unit)
    if kind is None:
        return setting
    try:
        number = float(setting)
    except ValueError:
        return setting
    # Like SHOW: zero and negative values (often "disabled" / "use default") have no unit.
    if number <= 0:
        return setting
    table = _MEMORY_UNITS if kind[0] == "memory" else _TIME_UNITS_US
    base = kind[1]
    for name, size in table:
        # Whole numbers always stop at the base unit or above; only fractions reach finer
        # units ('0.25' ms -> '250us'), as SHOW does.
        scaled = number * base / size
        if math.isclose(scaled, round(scaled), rel_tol=1e-12, abs_tol=0.0):
            return f"{round(scaled)}{name}"
    return f"{format(number, 'g')}{unit}"
