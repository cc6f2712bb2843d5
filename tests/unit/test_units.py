"""Reading server-parameter values the way PostgreSQL does (pure logic; see
tests/test_units_live.py for the same rules checked against a real server)."""

from __future__ import annotations

import datetime

import pytest

from pgstead.postgres import catalog
from pgstead.postgres.units import (
    SettingValueError,
    humanise,
    is_list,
    parse,
    parse_for,
    same,
    same_for,
    split_list,
    to_postgres_text,
)


def p15(name: str) -> catalog.Parameter:
    param = catalog.find(15, name)
    assert param is not None
    return param


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "on"),
        (False, "off"),
        (200, "200"),
        (0.9, "0.9"),
        (1e-05, "1e-05"),
        ("ddl", "ddl"),
        ("256MB", "256MB"),
        (["pg_stat_statements", "auto_explain"], "pg_stat_statements, auto_explain"),
        (datetime.date(2030, 1, 2), "2030-01-02"),
    ],
)
def test_yaml_scalars_become_postgres_text(value, text):
    assert to_postgres_text(value) == text


@pytest.mark.parametrize("value", [None, {"a": 1}, [True]])
def test_non_scalar_yaml_values_are_refused(value):
    with pytest.raises(SettingValueError, match="expected"):
        to_postgres_text(value)


@pytest.mark.parametrize(
    ("value", "unit", "setting"),
    [
        ("256MB", "8kB", "32768"),
        ("2GB", "8kB", "262144"),
        ("1000kB", "8kB", "125"),
        ("1004kB", "8kB", "126"),  # 125.5 rounds to even
        ("1012kB", "8kB", "126"),  # 126.5 rounds to even
        ("1536kB", "kB", "1536"),
        ("1.5MB", "kB", "1536"),
        ("0.001GB", "kB", "1024"),  # 1048.576 kB, first rounded to whole MB (the next unit)
        ("64MB", "kB", "65536"),
        ("4096", "kB", "4096"),  # no unit: the parameter's own unit
        ("2048 kB", "kB", "2048"),  # space between number and unit is allowed
        ("1TB", "MB", "1048576"),
        ("4kB", "B", "4096"),
        ("1min", "s", "60"),
        ("1min", "ms", "60000"),
        ("1.5s", "ms", "1500"),
        ("1500us", "ms", "2"),
        ("2500us", "ms", "2"),
        ("1d", "min", "1440"),
        ("1h", "s", "3600"),
        ("0.5min", "ms", "30000"),
        ("-1", "ms", "-1"),
        ("0x10", None, "16"),  # strtol with base 0: hex ...
        ("010", None, "8"),  # ... and octal
        ("1e3", None, "1000"),
        ("2.5", None, "2"),
        ("3.5", None, "4"),
    ],
)
def test_integers_are_read_in_the_parameter_unit(value, unit, setting):
    assert parse(value, "integer", unit) == setting


@pytest.mark.parametrize(
    ("value", "unit", "setting"),
    [
        ("1.1", None, "1.1"),
        ("0.90", None, "0.9"),
        ("4", None, "4"),
        ("1e1", None, "10"),
        ("0.000123456789", None, "0.000123457"),  # %g: six significant digits
        ("2ms", "ms", "2"),
        ("250us", "ms", "0.25"),
        ("0.5", "ms", "0.5"),
        ("1s", "ms", "1000"),
    ],
)
def test_reals_are_shown_as_printf_g(value, unit, setting):
    assert parse(value, "real", unit) == setting


@pytest.mark.parametrize(
    ("value", "setting"),
    [
        ("on", "on"), ("ON", "on"), ("off", "off"), ("true", "on"), ("t", "on"),
        ("TRUE", "on"), ("false", "off"), ("F", "off"), ("yes", "on"), ("y", "on"),
        ("no", "off"), ("n", "off"), ("1", "on"), ("0", "off"), ("of", "off"),
    ],
)
def test_bool_spellings(value, setting):
    assert parse(value, "bool", None) == setting


@pytest.mark.parametrize("value", ["o", "", "maybe", "2", "onn", " on", "01"])
def test_bool_rejects_what_postgres_rejects(value):
    with pytest.raises(SettingValueError, match="expected on or off"):
        parse(value, "bool", None)


def test_enum_is_case_insensitive_and_shown_as_listed():
    assert parse("DDL", "enum", None, enumvals=("none", "ddl", "mod", "all")) == "ddl"
    assert parse("tlsv1.2", "enum", None, enumvals=("TLSv1", "TLSv1.2")) == "TLSv1.2"


def test_enum_with_on_off_takes_hidden_bool_spellings():
    values = ("local", "remote_write", "remote_apply", "on", "off")
    assert parse("true", "enum", None, enumvals=values) == "on"
    assert parse("No", "enum", None, enumvals=values) == "off"


def test_enum_without_on_off_refuses_bool_spellings():
    with pytest.raises(SettingValueError, match="expected one of none, ddl, mod, all"):
        parse("true", "enum", None, enumvals=("none", "ddl", "mod", "all"))


def test_enum_hidden_aliases_show_their_target():
    assert parse_for(p15("wal_level"), "hot_standby") == "replica"
    assert parse_for(p15("client_min_messages"), "debug") == "debug2"
    assert parse_for(p15("wal_compression"), "on") == "pglz"
    assert parse_for(p15("wal_compression"), True) == "pglz"


@pytest.mark.parametrize(
    ("value", "unit", "message"),
    [
        ("256 MegaBytes", "8kB",
         "expected a memory size like 256MB (unit 8kB), got '256 MegaBytes'"),
        ("64mb", "kB", "expected a memory size like 256MB (unit kB), got '64mb'; "
                       "units are TB, GB, MB, kB, B (case matters)"),
        ("1 M B", "kB", "expected a memory size"),
        ("1 minute", "ms", "expected a duration like 1min or 500ms (unit ms), got '1 minute'; "
                           "units are d, h, min, s, ms, us"),
        ("5x", "s", "expected a duration"),
        ("inf", None, "expected an integer"),
        ("12MB", None, "expected an integer"),  # unitless parameter takes no unit
        ("", None, "expected an integer"),
        ("99999999999", None, "exceeds the integer range"),
    ],
)
def test_bad_integers_say_what_was_expected(value, unit, message):
    with pytest.raises(SettingValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(value, "integer", unit)


def test_bad_reals_say_what_was_expected():
    with pytest.raises(SettingValueError, match="expected a number, got 'fast'"):
        parse("fast", "real", None)
    with pytest.raises(SettingValueError, match="expected a number"):
        parse("nan", "real", None)


def test_ranges_are_checked_in_the_parameter_unit():
    with pytest.raises(SettingValueError, match=r"outside the valid range 128kB \.\. 8589934584kB"):
        parse_for(p15("shared_buffers"), "64kB")
    with pytest.raises(SettingValueError, match="outside the valid range"):
        parse_for(p15("work_mem"), "10B")  # rounds to 0 kB, below the 64kB minimum
    with pytest.raises(SettingValueError, match=r"outside the valid range 0 \.\. 1.79769e\+308"):
        parse_for(p15("random_page_cost"), -1)
    assert parse_for(p15("shared_buffers"), "128kB") == "16"


def test_parse_for_takes_yaml_scalars():
    assert parse_for(p15("max_connections"), 200) == "200"
    assert parse_for(p15("autovacuum"), True) == "on"
    assert parse_for(p15("random_page_cost"), 1.1) == "1.1"
    assert parse_for(p15("log_statement"), "DDL") == "ddl"
    assert parse_for(p15("autovacuum_naptime"), "1min") == "60"
    assert parse_for(p15("unix_socket_permissions"), "0770") == "0770"  # shown in octal
    assert parse_for(p15("unix_socket_permissions"), 0o770) == "0770"  # YAML 1.1 octal int


def test_parse_for_refuses_internal_parameters():
    with pytest.raises(SettingValueError, match="read-only"):
        parse_for(p15("server_version"), "99")


def test_strings_pass_through():
    assert parse("'%m [%p] '", "string", None) == "'%m [%p] '"


@pytest.mark.parametrize(
    ("desired", "live", "vartype", "unit"),
    [
        ("256MB", "32768", "integer", "8kB"),
        ("1000kB", "125", "integer", "8kB"),
        ("1min", "60", "integer", "s"),
        ("0.90", "0.9", "real", None),
        ("1.1", "1.1", "real", None),
        ("0.000123456789", "0.000123457", "real", None),
        ("ON", "on", "bool", None),
        ("yes", "on", "bool", None),
        ("DDL", "ddl", "enum", None),
        ("true", "on", "enum", None),
        ("pgstead", "pgstead", "string", None),
    ],
)
def test_same_value_in_another_spelling(desired, live, vartype, unit):
    assert same(desired, live, vartype, unit)


@pytest.mark.parametrize(
    ("desired", "live", "vartype", "unit"),
    [
        ("257MB", "32768", "integer", "8kB"),
        ("2min", "60", "integer", "s"),
        ("1.2", "1.1", "real", None),
        ("off", "on", "bool", None),
        ("mod", "ddl", "enum", None),
        ("Pgstead", "pgstead", "string", None),
    ],
)
def test_different_value_is_not_same(desired, live, vartype, unit):
    assert not same(desired, live, vartype, unit)


def test_same_with_parameter_specific_spellings():
    assert same_for(p15("wal_compression"), "on", "pglz")
    assert same_for(p15("search_path"), '"$user",public', '"$user", public')
    assert not same_for(p15("search_path"), "app,public", '"app,public"')
    assert same_for(p15("DateStyle"), "iso, dmy", "ISO, DMY")
    assert same_for(p15("TimeZone"), "utc", "UTC")
    assert same_for(p15("log_file_mode"), "0640", "0640")
    assert not same_for(p15("log_line_prefix"), "%m,%p", "%m, %p")


def test_same_without_a_name_still_knows_enum_spellings_shown_otherwise():
    assert same("on", "pglz", "enum", None)
    assert same("on", "on", "enum", None)
    assert not same("on", "pglz", "enum", None, name="synchronous_commit")


def test_same_refuses_an_invalid_desired_value():
    with pytest.raises(SettingValueError):
        same("lots", "32768", "integer", "8kB")


def test_list_parameters_split_like_postgres():
    assert is_list("shared_preload_libraries") and is_list("Search_Path")
    assert not is_list("log_line_prefix")
    assert split_list('"$user", public') == ["$user", "public"]
    assert split_list('"my schema", "We""ird,", public') == ["my schema", 'We"ird,', "public"]
    assert split_list("a,,b ,") == ["a", "b"]
    assert split_list("") == []


@pytest.mark.parametrize(
    ("setting", "unit", "shown"),
    [
        ("32768", "8kB", "256MB"),
        ("100", "8kB", "800kB"),
        ("16", "8kB", "128kB"),
        ("1073741823", "8kB", "8589934584kB"),
        ("2048", "MB", "2GB"),
        ("4096", "kB", "4MB"),
        ("65536", "kB", "64MB"),
        ("4096", "B", "4kB"),
        ("1000", "B", "1000B"),
        ("60000", "ms", "1min"),
        ("1500", "ms", "1500ms"),
        ("86400", "s", "1d"),
        ("90", "s", "90s"),
        ("1440", "min", "1d"),
        ("0.5", "ms", "500us"),
        ("0.0005", "ms", "0.0005ms"),
        ("2", "ms", "2ms"),
        ("0", "ms", "0"),
        ("-1", "kB", "-1"),
        ("on", None, "on"),
    ],
)
def test_humanise_picks_the_largest_exact_unit(setting, unit, shown):
    assert humanise(setting, unit) == shown


@pytest.mark.parametrize("text", ["32768", "100", "65536"])
def test_humanised_text_parses_back(text):
    assert parse(humanise(text, "8kB"), "integer", "8kB") == text
