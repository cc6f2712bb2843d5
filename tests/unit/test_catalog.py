"""The parameter catalog: what each supported PostgreSQL major knows."""

from __future__ import annotations

import pytest

from pgstead.postgres import catalog


@pytest.mark.parametrize("major", catalog.SUPPORTED_MAJORS)
def test_every_major_has_the_common_parameters(major):
    table = catalog.parameters(major)
    for name in ("shared_buffers", "work_mem", "max_connections", "log_statement",
                 "autovacuum", "random_page_cost", "wal_keep_size", "listen_addresses"):
        assert name in table, (major, name)


@pytest.mark.parametrize("major", catalog.SUPPORTED_MAJORS)
def test_every_row_is_well_formed(major):
    for key, param in catalog.parameters(major).items():
        assert key == param.name.lower()
        assert param.vartype in ("bool", "integer", "real", "string", "enum")
        assert param.context in ("postmaster", "sighup", "superuser", "user", "backend",
                                 "superuser-backend", "internal")
        assert (param.enumvals is not None) == (param.vartype == "enum"), param
        if param.vartype in ("integer", "real"):
            assert param.min_val is not None and param.max_val is not None, param
            assert param.min_val <= param.max_val
        else:
            assert param.min_val is None and param.max_val is None
            assert param.unit is None


def test_shared_buffers_is_8kb_blocks_and_needs_restart():
    param = catalog.parameters(15)["shared_buffers"]
    assert (param.vartype, param.unit, param.context) == ("integer", "8kB", "postmaster")
    assert catalog.needs_restart(param)
    assert param.settable


def test_work_mem_can_change_without_restart():
    param = catalog.find(16, "work_mem")
    assert param is not None
    assert param.unit == "kB" and param.min_val == 64
    assert not catalog.needs_restart(param)


def test_lookup_ignores_case():
    table = catalog.parameters(15)
    assert table["datestyle"] is table["DateStyle"]
    assert "TIMEZONE" in table
    assert catalog.find(15, "Work_Mem") is table["work_mem"]


def test_internal_parameters_are_kept_but_not_settable():
    param = catalog.find(15, "server_version")
    assert param is not None and param.context == "internal"
    assert not param.settable


def test_enum_values_are_listed():
    log_statement = catalog.find(14, "log_statement")
    assert log_statement is not None
    assert log_statement.enumvals == ("none", "ddl", "mod", "all")


@pytest.mark.parametrize(
    ("name", "present_in"),
    [
        ("operator_precedence_warning", {13}),  # removed in 14
        ("stats_temp_directory", {13, 14}),  # removed in 15 (shared-memory statistics)
        ("vacuum_defer_cleanup_age", {13, 14, 15}),  # removed in 16
        ("promote_trigger_file", {13, 14, 15}),  # removed in 16
        ("wal_keep_segments", set()),  # replaced by wal_keep_size in 13
        ("client_connection_check_interval", {14, 15, 16, 17}),  # new in 14
        ("recovery_prefetch", {15, 16, 17}),  # new in 15
        ("vacuum_buffer_usage_limit", {16, 17}),  # new in 16
        ("transaction_timeout", {17}),  # new in 17
        ("summarize_wal", {17}),  # new in 17
    ],
)
def test_parameters_come_and_go_with_majors(name, present_in):
    assert {m for m in catalog.SUPPORTED_MAJORS if name in catalog.parameters(m)} == present_in


def test_wal_compression_became_an_enum_in_15():
    assert catalog.find(14, "wal_compression").vartype == "bool"
    wal_compression = catalog.find(15, "wal_compression")
    assert wal_compression.vartype == "enum"
    assert {"pglz", "lz4", "zstd", "on", "off"} <= set(wal_compression.enumvals)


def test_unsupported_major_is_a_value_error():
    with pytest.raises(ValueError, match="supported majors: 13, 14, 15, 16, 17"):
        catalog.parameters(12)


def test_tables_are_cached():
    assert catalog.parameters(17) is catalog.parameters(17)
