"""Pure-logic rules: cron fields, identifiers, hba addresses, the connection budget, paths."""

from __future__ import annotations

import pytest

from pgstead.config.cron import cron_problem
from pgstead.config.errors import Problem
from pgstead.config.hba_check import address_problem
from pgstead.config.identifiers import identifier_problem
from pgstead.config.load import check_file
from pgstead.config.positions import format_path, parse_yaml


@pytest.mark.parametrize("schedule", [
    "0 2 * * *", "*/15 * * * *", "0 0 1 jan *", "30 4 * * mon-fri", "0 0 * * 7",
    "0,30 8-18/2 1-15 */3 sun", "59 23 31 12 6", "0 3 * JAN-MAR Sun",
])
def test_valid_cron_schedules(schedule):
    assert cron_problem(schedule) is None


@pytest.mark.parametrize(("schedule", "fragment"), [
    ("60 * * * *", "minute field '60': 60 is outside 0-59"),
    ("0 24 * * *", "hour field '24'"),
    ("0 0 0 * *", "day of month field '0': 0 is outside 1-31"),
    ("0 0 * 13 *", "month field '13'"),
    ("0 0 * * 8", "day of week field '8'"),
    ("0 0 * * funday", "'funday' is not a value"),
    ("*/0 * * * *", "step '0'"),
    ("0 5-2 * * *", "runs backwards"),
    ("@daily", "expected 5 cron fields"),
    ("0 0 * * * *", "got 6"),
    ("0 1-2-3 * * *", "is not a number, a range"),
])
def test_invalid_cron_schedules(schedule, fragment):
    assert fragment in cron_problem(schedule)


@pytest.mark.parametrize("name", ["app", "app_rw", "metrics-db", "etl$job", "Zürich", "x" * 63,
                                  "2fast"])
def test_valid_identifiers(name):
    assert identifier_problem(name) is None


@pytest.mark.parametrize(("name", "fragment"), [
    ("", "must not be empty"),
    ("pg_app", "starts with 'pg_'"),
    ("PG_app", "starts with 'pg_'"),
    ('a"b', "quote"),
    ("a'b", "quote"),
    ("a\x00b", "control character"),
    ("tab\there", "control character"),
    ("x" * 64, "64 bytes"),
    ("é" * 32, "64 bytes"),
    ("a b", "only letters, digits"),
    ("a.b", "only letters, digits"),
])
def test_invalid_identifiers(name, fragment):
    assert fragment in identifier_problem(name)


def test_extensions_may_start_with_pg():
    assert identifier_problem("pg_trgm", allow_pg_prefix=True) is None


@pytest.mark.parametrize("address", ["10.0.0.0/8", "192.168.1.7/32", "::1/128", "fd00::/8"])
def test_valid_cidr(address):
    assert address_problem(address) is None


@pytest.mark.parametrize(("address", "fragment"), [
    ("10.0.0.1/8", "did you mean 10.0.0.0/8?"),
    ("10.0.0.5", "write 10.0.0.5/32"),
    ("::1", "write ::1/128"),
    ("10.0.0.0/33", "CIDR"),
    ("example.com", "CIDR"),
])
def test_invalid_cidr(address, fragment):
    assert fragment in address_problem(address)


def budget_file(tmp_path, settings: str, limits: list[int]):
    users = "".join(
        f"  - name: u{i}\n    role: readonly\n    database: app\n    password: {{env: U}}\n"
        f"    connection_limit: {limit}\n" for i, limit in enumerate(limits))
    file = tmp_path / "budget.yml"
    settings = f"  settings:\n{settings}" if settings else "  settings: {}\n"
    file.write_text(f"name: b\npostgres:\n{settings}databases:\n"
                    f"  - name: app\n    owner: postgres\nusers:\n{users}")
    return file


@pytest.mark.parametrize(("settings", "limits", "ok"), [
    ("", [97], True),  # 97 + 3 reserved = 100, the default max_connections
    ("", [98], False),
    ("    max_connections: 50\n", [20, 27], True),
    ("    max_connections: 50\n", [20, 28], False),
    ("    max_connections: 50\n    superuser_reserved_connections: 10\n", [40], True),
    ("    max_connections: 50\n    superuser_reserved_connections: 10\n", [41], False),
    ("", [-1, -1, 97], True),  # -1 means no limit and is not counted
])
def test_connection_budget(tmp_path, settings, limits, ok):
    report = check_file(budget_file(tmp_path, settings, limits), resolve_secrets=False)
    budget = [p for p in report.errors if "connection limits add up" in p.message]
    assert (budget == []) == ok, report.errors
    assert report.errors == budget


def test_budget_message_says_the_numbers(tmp_path):
    report = check_file(budget_file(tmp_path, "    max_connections: 20\n", [10, 8]),
                        resolve_secrets=False)
    assert report.errors[0].message.startswith(
        "connection limits add up to 18 (u0 10, u1 8) plus 3 superuser_reserved_connections = "
        "21, more than max_connections 20")


def test_absent_user_needs_only_a_name_and_is_not_counted(tmp_path):
    file = tmp_path / "absent.yml"
    file.write_text("name: a\nusers:\n  - name: old\n    state: absent\n"
                    "    connection_limit: 500\n")
    assert check_file(file).errors == []


def test_paths_are_formatted_like_yaml():
    assert format_path(("users", 2, "role")) == "users[2].role"
    assert format_path(("postgres", "settings", "pg_stat_statements.max")) == (
        'postgres.settings["pg_stat_statements.max"]')
    assert format_path(()) == ""


def test_positions_record_key_lines_and_keep_dates_as_text():
    data, positions = parse_yaml("a:\n  b: 1\n  c:\n    - x\n    - {d: 2026-01-31}\n")
    assert data == {"a": {"b": 1, "c": ["x", {"d": "2026-01-31"}]}}
    assert positions.line_of(("a", "c", 1, "d")) == 5
    assert positions.line_of(("a", "b")) == 2
    assert positions.line_of(("a", "missing")) == 1


def test_problem_text_is_file_line_path_message():
    problem = Problem("prod.yml", "users[2].role", 23,
                      "expected one of owner, readwrite, readonly; got 'admin'")
    assert str(problem) == ("prod.yml:23: users[2].role: expected one of owner, readwrite, "
                            "readonly; got 'admin'")
    assert str(Problem("prod.yml", "", None, "cannot read")) == "prod.yml: cannot read"
