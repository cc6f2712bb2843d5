"""units.parse / units.same agree with what a real PostgreSQL 15 shows in pg_settings.setting.

Each value is given to the server (SET, or ALTER SYSTEM plus reload or restart, as the
parameter's context needs) and the server's own pg_settings.setting is compared with ours.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from pgstead.postgres import catalog, units
from tests.clusters import fixed_port

MAJOR = 15
CLUSTER = "units_live"
PORT = 5611

# (parameter, value as a user writes it, True if the server normalises a string itself so
# only same() — not parse() — can be expected to match the live text exactly)
SESSION_PAIRS: list[tuple[str, str]] = [
    ("work_mem", "64MB"),
    ("work_mem", "1GB"),
    ("work_mem", "1536kB"),
    ("work_mem", "1.5MB"),
    ("work_mem", "4096"),
    ("work_mem", "2048 kB"),
    ("work_mem", "0.001GB"),
    ("maintenance_work_mem", "1GB"),
    ("temp_buffers", "16MB"),
    ("temp_buffers", "1000kB"),
    ("temp_buffers", "1004kB"),
    ("temp_buffers", "1012kB"),
    ("temp_buffers", "800kB"),
    ("effective_cache_size", "6GB"),
    ("effective_cache_size", "0.5GB"),
    ("backend_flush_after", "256kB"),
    ("min_parallel_table_scan_size", "8MB"),
    ("temp_file_limit", "10GB"),
    ("log_temp_files", "0"),
    ("log_temp_files", "10MB"),
    ("gin_pending_list_limit", "4MB"),
    ("log_parameter_max_length", "1kB"),
    ("log_parameter_max_length_on_error", "512"),
    ("statement_timeout", "30s"),
    ("statement_timeout", "1min"),
    ("statement_timeout", "1.5s"),
    ("statement_timeout", "1h"),
    ("statement_timeout", "1d"),
    # Small values on parameters that cannot cancel the test's own query on a busy machine
    # (a statement_timeout of 1.5 ms would): bare numbers and sub-unit values in ms units.
    ("log_min_duration_statement", "250"),
    ("log_min_duration_statement", "1500us"),
    ("deadlock_timeout", "2500us"),
    ("statement_timeout", "0.5min"),
    ("idle_in_transaction_session_timeout", "10min"),
    ("lock_timeout", "0"),
    ("log_min_duration_statement", "-1"),
    ("log_min_duration_statement", "250ms"),
    ("vacuum_cost_delay", "2ms"),
    ("vacuum_cost_delay", "0.5"),
    ("vacuum_cost_delay", "250us"),
    ("vacuum_cost_delay", "1.5ms"),
    ("random_page_cost", "1.1"),
    ("random_page_cost", "0.90"),
    ("random_page_cost", "4"),
    ("random_page_cost", "1e1"),
    ("cpu_tuple_cost", "0.01"),
    ("cpu_operator_cost", "0.000123456789"),
    ("geqo_selection_bias", "1.75"),
    ("jit_above_cost", "100000"),
    ("vacuum_freeze_min_age", "50000000"),
    ("default_statistics_target", "0x64"),
    ("enable_seqscan", "off"),
    ("enable_seqscan", "ON"),
    ("enable_seqscan", "true"),
    ("enable_seqscan", "yes"),
    ("enable_seqscan", "no"),
    ("enable_seqscan", "1"),
    ("enable_seqscan", "0"),
    ("enable_seqscan", "of"),
    ("enable_seqscan", "t"),
    ("enable_seqscan", "F"),
    ("log_statement", "DDL"),
    ("log_statement", "mod"),
    ("log_statement", "ALL"),
    ("synchronous_commit", "true"),
    ("synchronous_commit", "local"),
    ("synchronous_commit", "OFF"),
    ("synchronous_commit", "remote_apply"),
    ("constraint_exclusion", "partition"),
    ("constraint_exclusion", "yes"),
    ("client_min_messages", "debug"),
    ("client_min_messages", "WARNING"),
    ("default_transaction_isolation", "repeatable read"),
    ("wal_compression", "on"),
    ("wal_compression", "lz4"),
    ("wal_compression", "false"),
    ("application_name", "pgstead"),
    ("search_path", '"$user", public'),
    ("search_path", "app,public"),
    ("search_path", '"my schema", "We""ird,", public'),
    ("DateStyle", "iso, dmy"),
    ("TimeZone", "utc"),
    ("TimeZone", "Europe/Berlin"),
]

RELOAD_PAIRS: list[tuple[str, str]] = [
    ("autovacuum_naptime", "1min"),
    ("log_rotation_age", "1d"),
    ("bgwriter_delay", "0.5s"),
    ("wal_writer_flush_after", "2MB"),
    ("checkpoint_timeout", "15min"),
    ("max_wal_size", "4GB"),
    ("min_wal_size", "512MB"),
    ("log_rotation_size", "100MB"),
    ("log_file_mode", "0640"),
    ("log_autovacuum_min_duration", "10s"),
    ("autovacuum_vacuum_cost_delay", "2ms"),
    ("autovacuum_vacuum_scale_factor", "0.05"),
    ("autovacuum", "on"),
    ("autovacuum_work_mem", "-1"),
    ("archive_timeout", "5min"),
]

RESTART_PAIRS: list[tuple[str, str]] = [
    ("shared_buffers", "256MB"),
    ("max_connections", "150"),
    ("wal_buffers", "16MB"),
    ("track_activity_query_size", "4kB"),
    ("huge_pages", "try"),
    ("unix_socket_permissions", "0770"),
    ("archive_mode", "yes"),
    ("wal_level", "hot_standby"),
    ("shared_preload_libraries", "pg_stat_statements, auto_explain"),
]

# Values the server refuses: our parser must refuse them too.
REFUSED_PAIRS: list[tuple[str, str]] = [
    ("work_mem", "256 MegaBytes"),
    ("work_mem", "64mb"),
    ("work_mem", "10B"),
    ("work_mem", "1 M B"),
    ("temp_buffers", "100kB"),
    ("statement_timeout", "1 minute"),
    ("statement_timeout", "5x"),
    ("statement_timeout", "inf"),
    ("enable_seqscan", "o"),
    ("enable_seqscan", "maybe"),
    ("log_statement", "some"),
    ("random_page_cost", "-1"),
    ("random_page_cost", "fast"),
    ("default_statistics_target", "10001"),
    ("default_statistics_target", "1.5x"),
    ("synchronous_commit", "sometimes"),
]


_SEP = "\x1f"  # field separator no value contains
# pg_settings.setting and SHOW's text (what humanise imitates) of one parameter.
_ROW_SQL = "SELECT setting, current_setting(name) FROM pg_settings WHERE name = {};\n"


def _psql_command() -> list[str]:
    base = ["psql", "-X", "-q", "-A", "-t", "-F", _SEP, "-v", "ON_ERROR_STOP=1", "-p", str(PORT),
            "-d", "postgres"]
    # The cluster's local socket uses peer authentication for the postgres user.
    return ["runuser", "-u", "postgres", "--", *base] if os.geteuid() == 0 else base


def _psql(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_psql_command(), input=script, capture_output=True, text=True,
                          timeout=60)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _value_sql(name: str, value: str) -> str:
    # List parameters take one literal per item, as the settings operation sends them.
    if units.is_list(name):
        return ", ".join(_literal(item) for item in units.split_list(value))
    return _literal(value)


def _row(output: str) -> tuple[str, str]:
    setting, shown = output.rstrip("\n").split(_SEP)
    return setting, shown


def _live(name: str) -> tuple[str, str]:
    result = _psql(_ROW_SQL.format(_literal(name)))
    assert result.returncode == 0, result.stderr
    return _row(result.stdout)


def _cluster(action: str) -> None:
    subprocess.run(["pg_ctlcluster", str(MAJOR), CLUSTER, action], check=True,
                   capture_output=True, timeout=120)


@pytest.fixture(scope="module", autouse=True)
def _port_held():
    """PORT and CLUSTER are fixed: another suite on this machine waits until this module ends."""
    with fixed_port(PORT):
        yield


@pytest.fixture(scope="module")
def cluster():
    if shutil.which("pg_createcluster") is None:
        pytest.skip("pg_createcluster (postgresql-common) is not installed")
    # A previous run that died may have left the cluster behind; it is ours by name.
    subprocess.run(["pg_dropcluster", "--stop", str(MAJOR), CLUSTER], capture_output=True)
    subprocess.run(
        ["pg_createcluster", str(MAJOR), CLUSTER, "--port", str(PORT), "--start"],
        check=True, capture_output=True, timeout=120,
    )
    yield
    subprocess.run(["pg_dropcluster", "--stop", str(MAJOR), CLUSTER], check=True,
                   capture_output=True, timeout=120)


def _param(name: str) -> catalog.Parameter:
    param = catalog.find(MAJOR, name)
    assert param is not None, name
    return param


def _assert_agrees(name: str, value: str, live_row: tuple[str, str]) -> None:
    live, shown = live_row
    param = _param(name)
    if param.unit:
        assert units.humanise(live, param.unit) == shown, (name, live, shown)
    assert units.same_for(param, value, live), (name, value, live)
    assert units.same(value, live, param.vartype, param.unit, enumvals=param.enumvals,
                      name=param.name)
    if param.vartype != "string":
        # Our canonical text is byte-for-byte the server's.
        assert units.parse_for(param, value) == live, (name, value, live)


@pytest.mark.parametrize(("name", "value"), SESSION_PAIRS)
def test_session_value_matches_pg_settings(cluster, name, value):
    result = _psql(
        f'SET "{name}" TO {_value_sql(name, value)};\n' + _ROW_SQL.format(_literal(name))
    )
    assert result.returncode == 0, result.stderr
    _assert_agrees(name, value, _row(result.stdout))


def test_reloaded_values_match_pg_settings(cluster):
    script = "".join(f'ALTER SYSTEM SET "{n}" TO {_value_sql(n, v)};\n' for n, v in RELOAD_PAIRS)
    result = _psql(script + "SELECT pg_reload_conf();\n")
    assert result.returncode == 0, result.stderr
    # The reload is asynchronous: wait until the last parameter shows its new value.
    last_name, last_value = RELOAD_PAIRS[-1]
    deadline = time.monotonic() + 60
    while not units.same_for(_param(last_name), last_value, _live(last_name)[0]):
        assert time.monotonic() < deadline, "the reload never reached the server"
        time.sleep(0.1)
    for name, value in RELOAD_PAIRS:
        _assert_agrees(name, value, _live(name))


def test_restart_values_match_pg_settings(cluster):
    assert all(catalog.needs_restart(_param(name)) for name, _ in RESTART_PAIRS)
    script = "".join(f'ALTER SYSTEM SET "{n}" TO {_value_sql(n, v)};\n' for n, v in RESTART_PAIRS)
    result = _psql(script)
    assert result.returncode == 0, result.stderr
    _cluster("restart")
    for name, value in RESTART_PAIRS:
        _assert_agrees(name, value, _live(name))


def test_changed_value_is_not_same(cluster):
    result = _psql("SET work_mem TO '64MB';\n" + _ROW_SQL.format("'work_mem'"))
    assert result.returncode == 0, result.stderr
    live, _ = _row(result.stdout)
    param = _param("work_mem")
    assert units.same_for(param, "64MB", live)
    assert units.same_for(param, 65536, live)
    assert not units.same_for(param, "65MB", live)
    assert not units.same_for(param, "64GB", live)


@pytest.mark.parametrize(("name", "value"), REFUSED_PAIRS)
def test_value_refused_by_server_is_refused_by_parse(cluster, name, value):
    result = _psql(f'SET "{name}" TO {_literal(value)};\n')
    assert result.returncode != 0 and "ERROR" in result.stderr, (name, value)
    with pytest.raises(units.SettingValueError):
        units.parse_for(_param(name), value)
