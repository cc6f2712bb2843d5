"""`pgstead env`: connection settings an application can use as they are printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg.conninfo import conninfo_to_dict

from pgstead.cli.connection_info import DEFAULT_POOL_SIZE, pool_size
from pgstead.config.load import load_environment
from tests.pgstead_run import ROOT, apply
from tests.test_access import access_data, passwords

PASSWORD = "p@ss w/rd:\"it's\" $HOME %41 &x=1"


def env_file_for(tmp_path: Path, tls: bool = False, **postgres) -> Path:
    document = {
        "name": "envcli",
        "postgres": {"version": 15, "port": 5999, "listen_addresses": ["10.1.2.3"], **postgres},
        "tls": {"enabled": tls, "require": tls},
        "databases": [{"name": "app", "owner": "app_owner"}],
        "users": [
            {"name": "app_owner", "password": {"env": "T_ENV_PW"}, "role": "owner",
             "database": "app", "connection_limit": 50, "app_replicas": 3},
            {"name": "app-ro", "password": {"env": "T_ENV_PW"}, "role": "readonly",
             "database": "app"},
        ],
    }
    if tls:
        document["users"].append({"name": "tls-app", "auth": "cert", "role": "readwrite",
                                  "database": "app"})
    path = tmp_path / "envcli.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def pgstead_env(path: Path, *args: str, state_dir: Path, password: str = PASSWORD,
                check: bool = True) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PGSTEAD_STATE_DIR": str(state_dir), "T_ENV_PW": password,
               **passwords(), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "pgstead.cli", "env", str(path), *args],
                          capture_output=True, text=True, env=environ, cwd=ROOT, timeout=60)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_dotenv_masks_the_password(tmp_path):
    out = pgstead_env(env_file_for(tmp_path), "--user", "app_owner",
                      state_dir=tmp_path / "state").stdout
    assert PASSWORD not in out and "p%40ss" not in out
    lines = dict(line.split("=", 1) for line in out.splitlines())
    assert lines["DB_PASSWORD"] == "********"
    assert lines["DATABASE_URL"] == (
        "postgresql://app_owner:********@10.1.2.3:5999/app?sslmode=disable")
    assert lines["DB_TYPE"] == "postgres" and lines["DB_HOST"] == "10.1.2.3"
    assert lines["DB_PORT"] == "5999" and lines["DB_NAME"] == "app"
    assert lines["DB_SSL_MODE"] == "disable" and lines["DB_SSL_ROOT_CERT"] == ""
    assert lines["DB_POOL_SIZE"] == "15"  # (50 - 5 headroom) // 3 replicas


def test_shown_url_round_trips_through_libpq_parsing(tmp_path, monkeypatch):
    path = env_file_for(tmp_path)
    out = pgstead_env(path, "--user", "app-ro", "--show-secrets",
                      "--format", "json", state_dir=tmp_path / "state").stdout
    variables = json.loads(out)
    parsed = conninfo_to_dict(variables["DATABASE_URL"])
    assert parsed == {"user": "app-ro", "password": PASSWORD, "host": "10.1.2.3",
                      "port": "5999", "dbname": "app", "sslmode": "disable"}
    assert variables["DB_PASSWORD"] == PASSWORD
    # No declared limit: the default pool, or a share of the limit hardening derives.
    monkeypatch.setenv("T_ENV_PW", PASSWORD)
    monkeypatch.setenv("PGSTEAD_STATE_DIR", str(tmp_path / "state"))
    limit = load_environment(path).user("app-ro").connection_limit
    assert variables["DB_POOL_SIZE"] == str(pool_size(limit, 1))


def test_shell_format_evaluates_to_the_exact_values(tmp_path):
    out = pgstead_env(env_file_for(tmp_path), "--user", "app_owner", "--show-secrets",
                      "--format", "shell", state_dir=tmp_path / "state").stdout
    assert all(line.startswith("export DB") or line.startswith("export DATABASE_URL=")
               for line in out.splitlines())
    shown = subprocess.run(["bash", "-c", 'eval "$(cat)"; printf %s "$DB_PASSWORD"'],
                           input=out, capture_output=True, text=True, check=True).stdout
    assert shown == PASSWORD


def test_dotenv_values_read_back_by_a_shell(tmp_path):
    password = "no single quote $HOME `x` \"y\""
    out = pgstead_env(env_file_for(tmp_path), "--user", "app_owner", "--show-secrets",
                      state_dir=tmp_path / "state", password=password).stdout
    shown = subprocess.run(["bash", "-c", 'set -a; . /dev/stdin; printf %s "$DB_PASSWORD"'],
                           input=out, capture_output=True, text=True, check=True).stdout
    assert shown == password


def test_tls_gives_verify_full_with_the_environment_ca_and_client_cert_paths(tmp_path):
    state = tmp_path / "state"
    out = pgstead_env(env_file_for(tmp_path, tls=True), "--user", "tls-app", "--host",
                      "db.example.com", "--format", "json", state_dir=state).stdout
    variables = json.loads(out)
    pki = state / "envcli" / "pki"
    assert variables["DB_SSL_MODE"] == "verify-full"
    assert variables["DB_SSL_ROOT_CERT"] == str(pki / "ca.crt")
    assert variables["DB_SSL_CERT"] == str(pki / "clients" / "tls-app.crt")
    assert variables["DB_SSL_KEY"] == str(pki / "clients" / "tls-app.key")
    assert variables["DB_PASSWORD"] == ""
    assert conninfo_to_dict(variables["DATABASE_URL"]) == {
        "user": "tls-app", "host": "db.example.com", "port": "5999", "dbname": "app",
        "sslmode": "verify-full", "sslrootcert": str(pki / "ca.crt"),
        "sslcert": str(pki / "clients" / "tls-app.crt"),
        "sslkey": str(pki / "clients" / "tls-app.key")}


def test_wildcard_listen_address_falls_back_to_localhost_and_ipv6_is_bracketed(tmp_path):
    path = env_file_for(tmp_path, listen_addresses=["*"])
    out = json.loads(pgstead_env(path, "--user", "app-ro", "--format", "json",
                                 state_dir=tmp_path / "state").stdout)
    assert out["DB_HOST"] == "localhost"
    out = json.loads(pgstead_env(path, "--user", "app-ro", "--format", "json", "--host", "::1",
                                 state_dir=tmp_path / "state").stdout)
    assert out["DATABASE_URL"].startswith("postgresql://app-ro:********@[::1]:5999/app?")


def test_unknown_user_is_one_clear_line(tmp_path):
    proc = pgstead_env(env_file_for(tmp_path), "--user", "nobody",
                       state_dir=tmp_path / "state", check=False)
    assert proc.returncode != 0
    assert "no user 'nobody'" in proc.stderr and "app_owner, app-ro" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(("limit", "replicas", "expected"), [
    (-1, 1, DEFAULT_POOL_SIZE), (50, 1, 45), (50, 3, 15), (5, 1, 4), (1, 1, 1), (10, 20, 1),
    (200, 4, 45)])
def test_pool_size_formula(limit, replicas, expected):
    assert pool_size(limit, replicas) == expected


def test_printed_url_connects_to_the_real_server(env_file):
    env_file.data.update(access_data(env_file.port))
    env_file.write()
    apply(env_file.path, env_file.state_dir, extra_env=passwords())
    out = pgstead_env(env_file.path, "--user", "app-user", "--host", "127.0.0.1",
                      "--show-secrets", "--format", "json", state_dir=env_file.state_dir)
    url = json.loads(out.stdout)["DATABASE_URL"]
    with psycopg.connect(url, connect_timeout=30) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (
            "app-user", "app")
