"""examples/apps/: one environment file per kind of seed app, each validated and planned,
and a Prisma-style SQLite database imported end to end, after which the app writes again."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from tests.deployed_app import RW_PW, deployed, drop_app_tables, login, pgstead
from tests.pgstead_run import ROOT

EXAMPLES = ROOT / "examples" / "apps"


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PGSTEAD_STATE_DIR": str(tmp_path / "state")}
    return subprocess.run([sys.executable, "-m", "pgstead.cli", *args], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=120)


def planned(tmp_path: Path, name: str) -> dict[str, str]:
    for command in (["validate"], ["plan", "--out", str(tmp_path / "out")]):
        proc = cli(tmp_path, command[0], str(EXAMPLES / f"{name}.yml"), *command[1:])
        assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    return {str(p.relative_to(out)): p.read_text() for p in out.rglob("*") if p.is_file()}


def settings(files: dict[str, str]) -> dict[str, str]:
    return {line.split(" = ")[0]: line.split(" = ")[1].split("'")[1]
            for line in files["postgresql.auto.conf"].splitlines()
            if " = " in line and not line.startswith("#")}


def test_every_example_is_there():
    assert sorted(p.name for p in EXAMPLES.glob("*.yml")) == [
        "go-proxy.yml", "node-api.yml", "python-app.yml"]


def test_node_api_beside_a_compose_postgresql(tmp_path):
    files = planned(tmp_path, "node-api")
    compose = yaml.safe_load(files["compose.yaml"])
    assert compose["services"]["postgres"]["ports"] == ["127.0.0.1:5433:5432"]
    roles = files["roles-and-grants.txt"]
    for user in ("api_owner", "api_rw", "reporting"):
        assert user in roles
    env = cli(tmp_path, "env", str(EXAMPLES / "node-api.yml"), "--user", "api_rw",
              "--format", "compose-env")
    lines = dict(line.split("=", 1) for line in env.stdout.splitlines())
    assert (lines["DB_TYPE"], lines["DB_HOST"], lines["DB_PORT"]) == ("postgres", "postgres",
                                                                     "5432")
    assert lines["DB_SSL_MODE"] == "verify-full" and lines["DB_POOL_SIZE"] == "18"
    assert "warning" not in env.stderr  # tls.server_names carries the service name


def test_go_proxy_over_the_local_socket(tmp_path):
    files = planned(tmp_path, "go-proxy")
    assert settings(files)["statement_timeout"] == "5s"
    env = cli(tmp_path, "env", str(EXAMPLES / "go-proxy.yml"), "--user", "proxy",
              "--host", "/var/run/postgresql")
    lines = dict(line.split("=", 1) for line in env.stdout.splitlines())
    assert lines["DB_HOST"] == "/var/run/postgresql" and lines["DB_SSL_MODE"] == "disable"
    assert lines["DATABASE_URL"] == ("postgresql://proxy:********@:5432/proxy"
                                     "?host=/var/run/postgresql&sslmode=disable")


def test_python_app_schemas_gzip_dumps_and_recommended_tuning(tmp_path):
    files = planned(tmp_path, "python-app")
    assert {k: v for k, v in settings(files).items() if k in {
        "shared_buffers", "effective_cache_size", "max_connections",
        "idle_in_transaction_session_timeout", "random_page_cost",
        "effective_io_concurrency"}} == {
        "shared_buffers": "256MB", "effective_cache_size": "1GB", "max_connections": "200",
        "idle_in_transaction_session_timeout": "10min", "random_page_cost": "1.1",
        "effective_io_concurrency": "200"}
    backup = files["backup-python-app.conf"]
    assert "FORMAT=plain" in backup and "COMPRESSION=gzip" in backup and "KEEP=10" in backup
    assert "0 2 * * *" in files["cron.d/pgstead-backup-python-app"]
    for schema in ("auth", "game", "audit"):
        assert schema in files["roles-and-grants.txt"]


# -- a Prisma-style app moves from SQLite to PostgreSQL -----------------------------------

# What Prisma's migrate emits for SQLite: DateTime columns hold epoch milliseconds (what the
# client writes) or SQLite's own CURRENT_TIMESTAMP text (the default), booleans 0/1.
PRISMA_SQLITE = """
CREATE TABLE "User" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, "email" TEXT NOT NULL,
  "displayName" TEXT, "isActive" BOOLEAN NOT NULL DEFAULT true,
  "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, "updatedAt" DATETIME NOT NULL);
CREATE TABLE "Post" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, "title" TEXT NOT NULL,
  "published" BOOLEAN NOT NULL DEFAULT false, "authorId" INTEGER NOT NULL,
  "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User" ("id")
  ON DELETE RESTRICT ON UPDATE CASCADE);
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
CREATE TABLE "_prisma_migrations" ("id" TEXT PRIMARY KEY NOT NULL, "checksum" TEXT NOT NULL,
  "finished_at" DATETIME, "migration_name" TEXT NOT NULL, "logs" TEXT,
  "rolled_back_at" DATETIME, "started_at" DATETIME NOT NULL DEFAULT current_timestamp,
  "applied_steps_count" INTEGER UNSIGNED NOT NULL DEFAULT 0);
"""
# What the same schema's PostgreSQL migration creates, run by the app as its owner.
PRISMA_POSTGRES = """
CREATE TABLE "User" ("id" SERIAL NOT NULL, "email" TEXT NOT NULL, "displayName" TEXT,
  "isActive" BOOLEAN NOT NULL DEFAULT true,
  "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updatedAt" TIMESTAMP(3) NOT NULL, CONSTRAINT "User_pkey" PRIMARY KEY ("id"));
CREATE TABLE "Post" ("id" SERIAL NOT NULL, "title" TEXT NOT NULL,
  "published" BOOLEAN NOT NULL DEFAULT false, "authorId" INTEGER NOT NULL,
  "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "Post_pkey" PRIMARY KEY ("id"));
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
ALTER TABLE "Post" ADD CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId")
  REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
CREATE TABLE "_prisma_migrations" ("id" VARCHAR(36) NOT NULL, "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ, "migration_name" VARCHAR(255) NOT NULL, "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ, "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0,
  CONSTRAINT "_prisma_migrations_pkey" PRIMARY KEY ("id"));
INSERT INTO "_prisma_migrations" ("id", "checksum", "migration_name", "finished_at",
  "applied_steps_count") VALUES ('pg-1', 'c0ffee', '20240101000000_init', now(), 1);
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    yield from deployed(tmp_path_factory, "orm")


def prisma_sqlite(path: Path) -> Path:
    db = sqlite3.connect(path)
    db.executescript(PRISMA_SQLITE)
    base = 1_717_200_000_000  # 2024-06-01 in epoch milliseconds, as the Prisma client writes
    for n in range(1, 51):
        db.execute('INSERT INTO "User" ("email", "displayName", "isActive", "createdAt", '
                   '"updatedAt") VALUES (?, ?, ?, ?, ?)',
                   (f"user{n}@example.com", f"User {n}" if n % 5 else None, n % 4 != 0,
                    base + n * 3_600_123, base + n * 3_600_123 + 999))
    db.execute('INSERT INTO "User" ("email", "updatedAt") VALUES (?, ?)',  # SQLite's default
               ("sqlite-default@example.com", base))
    for n in range(1, 201):
        db.execute('INSERT INTO "Post" ("title", "published", "authorId", "createdAt") '
                   'VALUES (?, ?, ?, ?)', (f"Post {n}", n % 3 == 0, 1 + n % 50, base + n))
    db.execute('DELETE FROM "Post" WHERE "id" > 195')  # AUTOINCREMENT never gives 196..200 again
    db.execute('INSERT INTO "_prisma_migrations" ("id", "checksum", "migration_name") '
               "VALUES ('sqlite-1', 'beef', '20231201000000_init')")
    db.commit()
    db.close()
    return path


def test_a_prisma_style_sqlite_app_moves_to_postgresql_and_keeps_writing(app, tmp_path):
    db = prisma_sqlite(tmp_path / "dev.db")
    with login(app) as conn:  # the app's PostgreSQL migrations, run as its owner
        conn.execute(PRISMA_POSTGRES)
    try:
        out = pgstead(app, "import", str(app.path), "--sqlite", str(db), "--database", "app",
                      "--host", "localhost").stdout
        assert "left out: _prisma_migrations (migration bookkeeping)" in out
        assert "isActive: boolean 0/1 or t/f -> boolean" in out
        assert "createdAt: epoch milliseconds" in out and "and ISO 8601 text" in out
        with login(app, "app_rw", RW_PW) as conn:
            conn.execute("SET TimeZone = 'UTC'")
            assert conn.execute('SELECT count(*) FROM "User"').fetchone() == (51,)
            assert conn.execute('SELECT count(*) FROM "Post"').fetchone() == (195,)
            assert conn.execute('SELECT "isActive", "createdAt", "updatedAt" FROM "User" '
                                'WHERE "id" = 4').fetchone() == (
                False, datetime(2024, 6, 1, 4, 0, 0, 492000),
                datetime(2024, 6, 1, 4, 0, 1, 491000))
            assert conn.execute('SELECT "createdAt" > \'2024-06-01\' FROM "User" '
                                "WHERE email = 'sqlite-default@example.com'").fetchone() == (
                True,)
            assert conn.execute('SELECT migration_name FROM "_prisma_migrations"').fetchall() \
                == [("20240101000000_init",)]
            # The app writes again, with ids the sequences hand out: no duplicate key.
            new_user = conn.execute(
                'INSERT INTO "User" ("email", "updatedAt") VALUES (\'new@example.com\', now()) '
                'RETURNING "id"').fetchone()[0]
            new_post = conn.execute(
                'INSERT INTO "Post" ("title", "authorId") VALUES (\'first on PostgreSQL\', %s) '
                'RETURNING "id"', (new_user,)).fetchone()[0]
            assert (new_user, new_post) == (52, 201)
    finally:
        drop_app_tables(app)
