"""One deployed environment per test module: TLS with a generated CA, database `app` with
its owner and a readwrite user, every statement logged; for tests that need a real server
an application logs in to, not a new one per test."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg

from tests.clusters import drop_cluster, free_port, sql
from tests.conftest import EnvFile, base_environment
from tests.pgstead_run import ROOT, apply

OWNER_PW = "imp0rt-Owner-pw-x7'\"q"  # quotes: must survive every hand-off untouched
RW_PW = "imp0rt-rw 'pw' $HOME #x \\ \"dq\""  # every character an env file trips on
SECRETS = {"T_IMPORT_OWNER_PW": OWNER_PW, "T_IMPORT_RW_PW": RW_PW}


def deploy_app(directory: Path, label: str, schemas: tuple[str, ...] = ()) -> EnvFile:
    name = "t" + label[:12] + "_" + hashlib.sha1(str(directory).encode()).hexdigest()[:6]
    port = free_port()
    env = EnvFile(directory, name, port, base_environment(name, port))
    env.data["postgres"]["settings"].update(
        {"log_statement": "all", "log_min_duration_statement": "0"})
    env.data["tls"] = {"enabled": True, "require": True, "ca": "generate"}
    env.data["databases"] = [{"name": "app", "owner": "app_owner", "schemas": list(schemas)}]
    env.data["users"] = [
        {"name": "app_owner", "password": {"env": "T_IMPORT_OWNER_PW"}, "role": "owner",
         "database": "app"},
        {"name": "app_rw", "password": {"env": "T_IMPORT_RW_PW"}, "role": "readwrite",
         "database": "app"},
    ]
    env.data["hba"] = [{"type": "hostssl", "database": "app", "user": "all",
                        "address": "127.0.0.1/32", "method": "scram-sha-256"}]
    env.write()
    apply(env.path, env.state_dir, extra_env=SECRETS)
    return env


def deployed(tmp_path_factory, label: str, schemas: tuple[str, ...] = ()) -> Iterator[EnvFile]:
    env = deploy_app(tmp_path_factory.mktemp(label), label, schemas)
    try:
        yield env
    finally:
        drop_cluster(15, env.name)


def ca_file(env: EnvFile) -> Path:
    return env.state_dir / env.name / "pki" / "ca.crt"


def login(env: EnvFile, user: str = "app_owner", password: str = OWNER_PW,
          **params: object) -> psycopg.Connection:
    """A verify-full login, as an app of the environment would."""
    return psycopg.connect(host="localhost", port=env.port, dbname="app", user=user,
                           password=password, sslmode="verify-full",
                           sslrootcert=str(ca_file(env)), connect_timeout=10,
                           autocommit=True, **params)


def drop_app_tables(env: EnvFile) -> None:
    """Every table of database app's own schemas, dropped (between tests)."""
    names = sql(env.port, "SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') "
                "FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
                "app")
    if names:
        sql(env.port, f"DROP TABLE {names} CASCADE", "app")


def pgstead(env: EnvFile, *args: str, check: bool = True,
            timeout: int = 600) -> subprocess.CompletedProcess:
    """The real CLI, as a user runs it, with the environment's secrets in its environment."""
    environ = {**os.environ, **SECRETS, "PGSTEAD_STATE_DIR": str(env.state_dir),
               "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "pgstead.cli", *args], capture_output=True,
                          text=True, env=environ, cwd=ROOT, timeout=timeout)
    if check:
        assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc
