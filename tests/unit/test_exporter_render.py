"""The exporter's pure parts: command line, queries for PG 13+, web config and bcrypt."""

from __future__ import annotations

import yaml

from pgstead.pki.bcrypt_hash import bcrypt_hash, bcrypt_verifies
from pgstead.render.exporter import (
    data_source,
    exporter_argv,
    exporter_paths,
    exposed,
    render_queries,
    render_web_config,
)


def test_localhost_exporter_has_no_web_config_and_a_declared_address_has_one():
    paths = exporter_paths("prod")
    local = exporter_argv("127.0.0.1", 9187, paths)
    assert "--web.listen-address=127.0.0.1:9187" in local
    assert not any(a.startswith("--web.config.file") for a in local)
    public = exporter_argv("10.0.0.5", 9187, paths)
    assert f"--web.config.file={paths.web_config}" in public
    assert exporter_argv("::1", 9187, paths)[1] == "--web.listen-address=[::1]:9187"
    assert not exposed("localhost") and exposed("10.0.0.5")


def test_data_source_is_the_socket_as_the_monitor_role_without_a_password():
    dsn = data_source(5433)
    assert "host=/var/run/postgresql" in dsn and "port=5433" in dsn
    assert "user=prometheus" in dsn and "password" not in dsn


def test_queries_use_postgresql_13_column_names():
    queries = yaml.safe_load(render_queries(True))
    statements = queries["pgstead_statements"]["query"]
    assert "total_exec_time" in statements and "total_time " not in statements
    assert "pgstead_statements" not in yaml.safe_load(render_queries(False))


def test_web_config_has_tls_and_a_bcrypt_user_that_verifies():
    hashed = bcrypt_hash("s3cret-password", "prod")
    assert hashed == bcrypt_hash("s3cret-password", "prod")  # the same file on every run
    assert hashed != bcrypt_hash("s3cret-password", "staging")
    assert bcrypt_verifies(hashed, "s3cret-password")
    assert not bcrypt_verifies(hashed, "s3cret-passwore")
    config = yaml.safe_load(render_web_config(exporter_paths("prod"), "prometheus", hashed))
    assert config["basic_auth_users"] == {"prometheus": hashed}
    assert config["tls_server_config"]["cert_file"].endswith("exporter-prod.crt")
