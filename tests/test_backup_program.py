"""The host backup program on a real PostgreSQL 15 cluster: dumps, verification, retention,
failure handling and restore, run as the postgres user exactly as cron runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pgstead import PROJECT_ROOT
from pgstead.config.model import Backups
from pgstead.render.backup_config import render_backup_config

HOST_DIR = PROJECT_ROOT / "pgstead" / "data" / "host"
BACKUP = HOST_DIR / "pgstead-backup"
RESTORE = HOST_DIR / "pgstead-restore"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SET_NAME = r"^[0-9]{8}T[0-9]{6}Z$"


class Cluster:
    """A throwaway 15/<name> cluster; loopback TCP is trusted so the test can connect as root."""

    def __init__(self, name: str, port: int) -> None:
        self.name = name
        self.port = port

    def create(self) -> None:
        self.drop()
        subprocess.run(
            ["pg_createcluster", "15", self.name, "--port", str(self.port), "--start",
             "--", "--auth-local=peer", "--auth-host=trust"],
            check=True, capture_output=True,
        )

    def drop(self) -> None:
        subprocess.run(["pg_dropcluster", "--stop", "15", self.name],
                       check=False, capture_output=True)

    def ctl(self, action: str) -> None:
        subprocess.run(["pg_ctlcluster", "15", self.name, action], check=True,
                       capture_output=True)

    def connect(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                               dbname=dbname, autocommit=True)

    def query(self, query: str | sql.Composable, dbname: str = "postgres") -> list[tuple]:
        with self.connect(dbname) as conn:
            cur = conn.execute(query)
            return cur.fetchall() if cur.description else []

    def databases(self) -> set[str]:
        return {r[0] for r in self.query("SELECT datname FROM pg_database")}


def populate(cluster: Cluster, dbname: str) -> None:
    """A database with an owner role, schemas, an oddly named table, a partitioned table."""
    cluster.query(
        "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app_owner') "
        "THEN CREATE ROLE app_owner; END IF; END$$"
    )
    cluster.query(sql.SQL("CREATE DATABASE {} OWNER app_owner").format(sql.Identifier(dbname)))
    with cluster.connect(dbname) as conn:
        conn.execute("SET ROLE app_owner")
        conn.execute("CREATE SCHEMA game")
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text, j jsonb)")
        conn.execute(
            "INSERT INTO t SELECT g, md5(g::text), jsonb_build_object('g', g) "
            "FROM generate_series(1, 2000) g"
        )
        conn.execute('CREATE TABLE game."Weird Table" (id serial, "Odd Col" text)')
        conn.execute(
            """INSERT INTO game."Weird Table" ("Odd Col") VALUES ('a'), ('b''s'), (E'tab\\there')"""
        )
        conn.execute("CREATE TABLE game.empty (id int)")
        conn.execute("CREATE TABLE game.events (at date, n int) PARTITION BY RANGE (at)")
        conn.execute(
            "CREATE TABLE game.events_2026 PARTITION OF game.events "
            "FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')"
        )
        conn.execute(
            "INSERT INTO game.events SELECT date '2026-01-01' + g % 300, g "
            "FROM generate_series(1, 500) g"
        )


def row_counts(cluster: Cluster, dbname: str) -> dict[str, int]:
    """Exact row counts keyed like the program's manifest: the quoted schema.table name."""
    tables = cluster.query(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname !~ '^pg_toast'",
        dbname,
    )
    counts = {}
    for schema, table in tables:
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(
            sql.Identifier(schema), sql.Identifier(table))
        key = cluster.query(sql.SQL("SELECT format('%I.%I', {}::text, {}::text)").format(
            sql.Literal(schema), sql.Literal(table)))[0][0]
        counts[key] = cluster.query(query, dbname)[0][0]
    return counts


def content_checksum(cluster: Cluster, dbname: str) -> str:
    return cluster.query("SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM t", dbname)[0][0]


class BackupArea:
    """A postgres-owned scratch area with a config file and BACKUP_DIR, and ways to run the
    programs in it as postgres."""

    def __init__(self, cluster: Cluster, **settings) -> None:
        self.cluster = cluster
        self.base = Path(tempfile.mkdtemp(prefix="pgstead-bk-"))
        self.dir = self.base / "backups"
        self.config = self.base / "backup.conf"
        self.tmp = self.base / "tmp"
        for d in (self.base, self.dir, self.tmp):
            d.mkdir(exist_ok=True)
            shutil.chown(d, "postgres", "postgres")
        self.configure(**settings)

    def configure(self, **settings) -> None:
        backups = replace(Backups(enabled=True, dir=str(self.dir)), **settings)
        self.config.write_text(
            render_backup_config("bk", backups, port=self.cluster.port, major=15))
        shutil.chown(self.config, "postgres", "postgres")

    def run(self, *args: str, program: Path = BACKUP) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", "env", f"TMPDIR={self.tmp}", "bash", str(program),
             "--config", str(self.config), *args],
            capture_output=True, text=True, timeout=300,
        )

    def leftovers(self) -> list[str]:
        """Temporary files the programs did not remove."""
        return [p.name for p in self.tmp.iterdir()]

    def backup(self, *args: str) -> subprocess.CompletedProcess:
        proc = self.run(*args)
        assert proc.returncode == 0, proc.stderr + self.log()
        return proc

    def restore(self, *args: str) -> subprocess.CompletedProcess:
        return self.run(*args, program=RESTORE)

    def log(self) -> str:
        path = self.dir / "pgstead-backup.log"
        return path.read_text() if path.exists() else ""

    def last_run(self) -> dict:
        return json.loads((self.dir / "last-run.json").read_text())

    def sets(self, db: str) -> list[Path]:
        return sorted(p for p in (self.dir / db).iterdir() if not p.name.startswith("."))

    def good_sets(self, db: str) -> list[Path]:
        return [p for p in self.sets(db) if not p.name.endswith(".failed")]

    def manifest(self, set_dir: Path) -> dict:
        return json.loads((set_dir / "manifest.json").read_text())

    def listing(self) -> list[dict]:
        return [json.loads(line) for line in self.backup("--list").stdout.splitlines()]

    def remove(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


def populated_cluster(name: str, port: int, dbname: str) -> Iterator[Cluster]:
    c = Cluster(name, port)
    c.create()
    populate(c, dbname)
    yield c
    c.drop()


@pytest.fixture(scope="module")
def cluster():
    yield from populated_cluster("bk_t", 5631, "app")


@pytest.fixture
def area(cluster):
    made: list[BackupArea] = []

    def make(**settings) -> BackupArea:
        a = BackupArea(cluster, **settings)
        made.append(a)
        return a

    yield make
    for a in made:
        log, leftovers = a.log(), a.leftovers()
        a.remove()
        # Every failure the tests provoke has its own message; the catch-all must stay silent.
        assert "unexpected failure" not in log
        assert leftovers == []


def as_postgres(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True,
                          capture_output=True, text=True, **kwargs)


# ---------------------------------------------------------------- a backup run


def test_run_makes_verified_sets_for_every_database_and_globals(cluster, area):
    a = area(databases=None)
    a.backup()

    run = a.last_run()
    assert run["status"] == "ok" and run["error"] is None
    assert {d["db"] for d in run["databases"]} == {"app", "postgres"}
    assert all(d["verified"] for d in run["databases"])
    assert run["globals"]["status"] == "ok"

    for db in ("app", "postgres", "_globals"):
        (only,) = a.sets(db)
        assert only.name == run["globals"]["set"]
        subprocess.run(["sha256sum", "--quiet", "--strict", "-c", "SHA256SUMS"], cwd=only,
                       check=True)
    globals_sql = subprocess.run(
        ["zstd", "-dc", str(a.sets("_globals")[0] / "globals.sql.zst")],
        check=True, capture_output=True, text=True).stdout
    assert "CREATE ROLE app_owner" in globals_sql

    manifest = a.manifest(a.sets("app")[0])
    assert manifest["verified"] is True and manifest["error"] is None
    assert manifest["db"] == "app" and manifest["format"] == "custom"
    assert manifest["tables"] == row_counts(cluster, "app")
    assert manifest["row_total"] == sum(row_counts(cluster, "app").values())
    assert {f["name"] for f in manifest["files"]} >= {"database.dump.zst", "SHA256SUMS"}
    assert not any(n.startswith("pgstead_verify_") for n in cluster.databases())


def test_dump_restores_with_identical_rows_and_content(cluster, area):
    a = area()
    a.backup()
    dump = a.sets("app")[0] / "database.dump.zst"
    cluster.query("DROP DATABASE IF EXISTS app_copy")
    cluster.query("CREATE DATABASE app_copy TEMPLATE template0")
    try:
        as_postgres("bash", "-c",
                    f"zstd -dc {dump} | {PG_BIN}/pg_restore --exit-on-error "
                    f"-p {cluster.port} -d app_copy")
        assert row_counts(cluster, "app_copy") == row_counts(cluster, "app")
        assert content_checksum(cluster, "app_copy") == content_checksum(cluster, "app")
    finally:
        cluster.query("DROP DATABASE IF EXISTS app_copy WITH (FORCE)")


@pytest.mark.parametrize(
    ("fmt", "compression", "dump_file", "effective"),
    [
        ("custom", "zstd", "database.dump.zst", "zstd"),
        ("custom", "gzip", "database.dump", "gzip"),
        ("custom", "none", "database.dump", "none"),
        # pg_dump 15 has no built-in zstd: a directory dump falls back to its built-in gzip.
        ("directory", "zstd", "database.dir", "gzip"),
        ("directory", "gzip", "database.dir", "gzip"),
        ("directory", "none", "database.dir", "none"),
        ("plain", "zstd", "database.sql.zst", "zstd"),
        ("plain", "gzip", "database.sql.gz", "gzip"),
        ("plain", "none", "database.sql", "none"),
    ],
)
def test_every_format_and_compression_verifies(cluster, area, fmt, compression, dump_file,
                                               effective):
    a = area(databases=("app",), format=fmt, compression=compression)
    a.backup()
    (set_dir,) = a.sets("app")
    assert (set_dir / dump_file).exists()
    manifest = a.manifest(set_dir)
    assert manifest["verified"] is True
    assert manifest["format"] == fmt and manifest["compression"] == effective
    assert manifest["tables"]['game."Weird Table"'] == 3


def test_retention_keeps_the_newest_sets(cluster, area):
    a = area(databases=("app",), keep=2, verify=False)
    for _ in range(4):
        a.backup()
    names = [p.name for p in a.sets("app")]
    assert len(names) == 2
    all_runs = [line.split("into ")[-1].rsplit("/", 1)[-1]
                for line in a.log().splitlines() if "backed up app into" in line]
    assert names == all_runs[-2:]
    assert len(a.sets("_globals")) == 2


def test_list_prints_every_set_as_json(cluster, area):
    a = area(databases=("app",))
    a.backup()
    rows = a.listing()
    kinds = {r["kind"] for r in rows}
    assert kinds == {"database", "globals"}
    (app,) = [r for r in rows if r["db"] == "app"]
    assert app["status"] == "ok" and app["verified"] is True and app["size_bytes"] > 0
    assert app["set"] == a.sets("app")[0].name


def wait_for_rows(cluster: Cluster, above: int) -> None:
    """Wait until the busy table holds more than `above` rows (a deadline, not a timing claim)."""
    deadline = time.monotonic() + 60
    while cluster.query("SELECT count(*) FROM busy", "app")[0][0] <= above:
        assert time.monotonic() < deadline, f"the writer added no row above {above} in 60 s"
        time.sleep(0.05)


def test_backup_is_consistent_while_the_database_is_written(cluster, area):
    cluster.query("CREATE TABLE IF NOT EXISTS busy (id bigserial, at timestamptz DEFAULT now())",
                  "app")
    # The writer is a process of its own: once pyinfra's CLI module has been imported by another
    # test, gevent has patched threading, and a thread blocked in libpq would stall the test.
    writer = subprocess.Popen([
        sys.executable, "-c",
        "import psycopg, sys\n"
        "with psycopg.connect(sys.argv[1], autocommit=True) as conn:\n"
        "    while True:\n"
        "        conn.execute('INSERT INTO busy DEFAULT VALUES')\n",
        f"host=127.0.0.1 port={cluster.port} user=postgres dbname=app",
    ])
    try:
        # Under load the writer may take seconds to connect: the backup must start mid-write, so
        # it waits for the first rows, and the writer runs until rows land after the snapshot.
        wait_for_rows(cluster, above=0)
        a = area(databases=("app",), format="directory", jobs=2)
        a.backup()
        manifest = a.manifest(a.sets("app")[0])
        wait_for_rows(cluster, above=manifest["tables"]["public.busy"])
    finally:
        writer.kill()
        writer.wait()
    assert manifest["verified"] is True
    assert 0 < manifest["tables"]["public.busy"] < row_counts(cluster, "app")["public.busy"]
    cluster.query("DROP TABLE busy", "app")


# ---------------------------------------------------------------- verification catches bad sets


def test_verify_set_confirms_a_good_set(cluster, area):
    a = area(databases=("app",))
    a.backup()
    (set_dir,) = a.sets("app")
    proc = a.run("--verify-set", f"app/{set_dir.name}")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["verified"] is True


def test_verify_set_catches_a_truncated_dump(cluster, area):
    a = area(databases=("app",), format="custom", compression="none")
    a.backup()
    (set_dir,) = a.sets("app")
    dump = set_dir / "database.dump"
    os.truncate(dump, dump.stat().st_size // 2)

    proc = a.run("--verify-set", f"app/{set_dir.name}")

    assert proc.returncode == 1
    assert "checksum mismatch" in proc.stderr
    assert not set_dir.exists()
    failed = set_dir.with_name(set_dir.name + ".failed")
    manifest = a.manifest(failed)
    assert manifest["verified"] is False and "checksum mismatch" in manifest["error"]
    assert [r["status"] for r in a.listing() if r["db"] == "app"] == ["failed"]


def test_verify_set_catches_a_dump_that_does_not_restore(cluster, area):
    a = area(databases=("app",), format="plain", compression="none")
    a.backup()
    (set_dir,) = a.sets("app")
    dump = set_dir / "database.sql"
    # A dump cut short, with checksums that match it: only a restore can tell.
    dump.write_text(dump.read_text()[: dump.stat().st_size // 2])
    subprocess.run(["bash", "-c", "sha256sum database.sql database.tsv row-counts.tsv "
                    "> SHA256SUMS"], cwd=set_dir, check=True)

    proc = a.run("--verify-set", f"app/{set_dir.name}")

    assert proc.returncode == 1
    manifest = a.manifest(set_dir.with_name(set_dir.name + ".failed"))
    assert manifest["verified"] is False
    assert "does not restore" in manifest["error"] or "row counts" in manifest["error"]
    assert not any(n.startswith("pgstead_verify_") for n in cluster.databases())


def test_verify_set_catches_missing_rows(cluster, area):
    a = area(databases=("app",))
    a.backup()
    (set_dir,) = a.sets("app")
    counts = set_dir / "row-counts.tsv"
    # The source had one more row than the dump holds.
    counts.write_text(counts.read_text().replace('"public.t"\t2000', '"public.t"\t2001'))
    subprocess.run(["bash", "-c", "sha256sum database.dump.zst database.tsv row-counts.tsv "
                    "> SHA256SUMS"], cwd=set_dir, check=True)

    proc = a.run("--verify-set", f"app/{set_dir.name}")

    assert proc.returncode == 1
    assert "row counts" in proc.stderr and "public.t" in proc.stderr


def test_retention_removes_nothing_after_a_failed_run(cluster, area):
    a = area(databases=("app",), keep=1)
    a.backup()
    (first,) = a.sets("app")
    a.configure(databases=("app", "no_such_db"), keep=1)
    proc = a.run()
    assert proc.returncode == 1
    assert first.exists() and len(a.good_sets("app")) == 2
    assert "no_such_db" in a.last_run()["error"]


# ---------------------------------------------------------------- failures


@pytest.fixture
def stoppable_cluster():
    c = Cluster("bk_down", 5632)
    c.create()
    populate(c, "app")
    yield c
    c.drop()


def test_server_down_fails_and_keeps_older_sets(stoppable_cluster):
    a = BackupArea(stoppable_cluster, databases=None)
    try:
        a.backup()
        before = sorted(str(p) for p in a.dir.rglob("*"))
        stoppable_cluster.ctl("stop")

        proc = a.run()

        assert proc.returncode == 1
        assert "cannot connect to PostgreSQL" in proc.stderr
        assert "cannot connect to PostgreSQL" in a.log()
        run = a.last_run()
        assert run["status"] == "failed" and "5632" in run["error"]
        after = sorted(str(p) for p in a.dir.rglob("*"))
        assert after == before
    finally:
        a.remove()


def test_unwritable_backup_dir_is_refused_clearly(cluster, area):
    a = area()
    a.dir.chmod(0o555)
    proc = a.run()
    assert proc.returncode == 1
    assert "is not writable by user postgres" in proc.stderr
    assert not any(a.dir.iterdir())


def test_missing_compressor_is_named(cluster, area):
    a = area(compression="zstd")
    # The program looks tools up on PATH; a PATH without zstd is a host without it.
    bare = a.base / "bin"
    bare.mkdir()
    for tool in Path("/usr/bin").iterdir():
        if not tool.name.startswith("zstd"):
            (bare / tool.name).symlink_to(tool)
    proc = subprocess.run(
        ["runuser", "-u", "postgres", "--", "env", f"PATH={bare}", "bash", str(BACKUP),
         "--config", str(a.config)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1
    assert "apt-get install zstd" in proc.stderr
    assert a.last_run()["status"] == "failed"


def test_second_concurrent_run_exits_75(cluster, area):
    a = area(databases=None)
    first = subprocess.Popen(
        ["runuser", "-u", "postgres", "--", "bash", str(BACKUP), "--config", str(a.config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while not list(a.dir.glob("*/.*.partial")):
        assert first.poll() is None, "the first run ended before it could be overlapped"
        assert time.monotonic() < deadline
        time.sleep(0.01)

    second = a.run()

    assert second.returncode == 75
    assert "another pgstead-backup or pgstead-restore is running" in second.stderr
    assert first.wait(timeout=120) == 0
    assert a.last_run()["status"] == "ok"


def test_bad_config_is_a_usage_error(cluster, area):
    a = area()
    a.config.write_text(a.config.read_text().replace("FORMAT=custom", "FORMAT=tar"))
    proc = a.run()
    assert proc.returncode == 2
    assert "FORMAT must be custom, directory or plain" in proc.stderr


# ---------------------------------------------------------------- the rendered config


def test_config_quotes_every_value_and_keeps_names_with_spaces():
    text = render_backup_config(
        "prod", Backups(dir="/var/backups/pg stead", databases=("app", "my db", "it's")),
        port=5433, major=16,
        pg_exec="docker compose -f '/opt/x y/compose.yaml' exec -T -u postgres postgres")
    script = text + 'printf "%s\\n" "$BACKUP_DIR" "${DATABASES[@]}" "${PG_EXEC[@]}" "$PG_BINDIR"'
    out = subprocess.run(["bash", "-c", script], check=True, capture_output=True,
                         text=True).stdout.splitlines()
    assert out == ["/var/backups/pg stead", "app", "my db", "it's",
                   "docker", "compose", "-f", "/opt/x y/compose.yaml", "exec", "-T", "-u",
                   "postgres", "postgres", ""]


def test_config_all_databases_and_native_bindir():
    text = render_backup_config("prod", Backups(), port=5432, major=15)
    assert "DATABASES_ALL=1\n" in text and "DATABASES=()\n" in text
    assert "PG_BINDIR=/usr/lib/postgresql/15/bin\n" in text
    assert "PG_EXEC=()\n" in text and "VERIFY=1\n" in text


@pytest.mark.parametrize(
    ("backups", "pg_exec", "message"),
    [
        (Backups(format="tar"), "", "backups.format"),
        (Backups(compression="lz4"), "", "backups.compression"),
        (Backups(keep=0), "", "backups.keep"),
        (Backups(dir="relative/dir"), "", "absolute"),
        (Backups(databases=()), "", "empty list"),
        (Backups(format="directory"), "docker compose exec -T postgres", "directory"),
    ],
)
def test_config_refuses_what_the_program_cannot_do(backups, pg_exec, message):
    with pytest.raises(ValueError, match=message):
        render_backup_config("prod", backups, port=5432, major=15, pg_exec=pg_exec)


# ---------------------------------------------------------------- restore


@pytest.fixture(scope="module")
def restore_cluster():
    yield from populated_cluster("bk_rs", 5633, "shop")


@pytest.fixture
def shop_backups(restore_cluster):
    a = BackupArea(restore_cluster, databases=("shop",))
    a.backup()
    yield a
    log, leftovers = a.log(), a.leftovers()
    a.remove()
    assert "unexpected failure" not in log
    assert leftovers == []
    for name in restore_cluster.databases() - {"postgres", "template0", "template1", "shop"}:
        restore_cluster.query(
            sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def owner_of(cluster: Cluster, dbname: str) -> str:
    return cluster.query(sql.SQL(
        "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = {}"
    ).format(sql.Literal(dbname)))[0][0]


def test_restore_into_a_new_database(restore_cluster, shop_backups):
    c = restore_cluster
    proc = shop_backups.restore("--database", "shop", "--into", "shop_copy")
    assert proc.returncode == 0, proc.stderr

    assert row_counts(c, "shop_copy") == row_counts(c, "shop")
    assert content_checksum(c, "shop_copy") == content_checksum(c, "shop")
    assert owner_of(c, "shop_copy") == "app_owner"
    table_owner = c.query("SELECT tableowner FROM pg_tables WHERE tablename = 'Weird Table'",
                          "shop_copy")
    assert table_owner == [("app_owner",)]
    *tables, summary = json_lines(proc.stdout)
    assert {t["table"]: t["rows"] for t in tables} == row_counts(c, "shop")
    assert all(t["rows"] == t["expected"] for t in tables)
    assert summary["database"] == "shop_copy"
    assert summary["restored_from"] == shop_backups.good_sets("shop")[0].name


def test_restore_refuses_an_existing_target(restore_cluster, shop_backups):
    proc = shop_backups.restore("--database", "shop", "--into", "shop")
    assert proc.returncode == 1
    assert "database shop already exists" in proc.stderr
    assert content_checksum(restore_cluster, "shop") is not None


def test_restore_default_name_and_chosen_set(restore_cluster, shop_backups):
    c = restore_cluster
    first = shop_backups.good_sets("shop")[0].name
    c.query("INSERT INTO t VALUES (100001, 'later', NULL)", "shop")
    shop_backups.backup()
    try:
        proc = shop_backups.restore("--database", "shop", "--from", first)
        assert proc.returncode == 0, proc.stderr
        restored = json_lines(proc.stdout)[-1]["database"]
        assert restored.startswith("shop_restored_")
        assert row_counts(c, restored)["public.t"] == row_counts(c, "shop")["public.t"] - 1
    finally:
        c.query("DELETE FROM t WHERE id = 100001", "shop")


def test_restore_refuses_a_damaged_set(restore_cluster, shop_backups):
    (set_dir,) = shop_backups.good_sets("shop")
    dump = set_dir / "database.dump.zst"
    os.truncate(dump, dump.stat().st_size - 10)
    before = restore_cluster.databases()
    proc = shop_backups.restore("--database", "shop", "--into", "shop_copy")
    assert proc.returncode == 1
    assert "is damaged" in proc.stderr and "checksum mismatch" in proc.stderr
    assert restore_cluster.databases() == before


def test_replace_restores_the_set_after_a_fresh_backup(restore_cluster, shop_backups):
    c = restore_cluster
    wanted_counts = row_counts(c, "shop")
    wanted_checksum = content_checksum(c, "shop")
    (chosen,) = shop_backups.good_sets("shop")
    # Changes made after the backup: the replace must undo them, the fresh backup keep them.
    c.query("DELETE FROM t WHERE id > 1500", "shop")
    c.query("""INSERT INTO game."Weird Table" ("Odd Col") VALUES ('new')""", "shop")
    changed_counts = row_counts(c, "shop")
    c.query("ALTER DATABASE shop SET work_mem = '16MB'")
    c.query("ALTER DATABASE shop SET search_path = game, public")
    c.query("REVOKE ALL ON DATABASE shop FROM PUBLIC")
    c.query("GRANT CONNECT ON DATABASE shop TO app_owner")
    acl_query = "SELECT datacl::text FROM pg_database WHERE datname = 'shop'"
    wanted_acl = c.query(acl_query)
    session = c.connect("shop")

    proc = shop_backups.restore("--database", "shop", "--replace")

    assert proc.returncode == 0, proc.stderr
    assert row_counts(c, "shop") == wanted_counts
    assert content_checksum(c, "shop") == wanted_checksum
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")
    session.close()

    *tables, summary = json_lines(proc.stdout)
    assert summary["restored_from"] == chosen.name and summary["old_database"] is None
    assert {t["table"]: t["rows"] for t in tables} == wanted_counts
    fresh = shop_backups.good_sets("shop")[-1]
    assert fresh.name == summary["pre_replace_set"] and fresh != chosen
    assert shop_backups.manifest(fresh)["tables"] == changed_counts
    assert shop_backups.manifest(fresh)["verified"] is True

    assert owner_of(c, "shop") == "app_owner"
    settings = c.query("SELECT unnest(setconfig) FROM pg_db_role_setting s "
                       "JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = 'shop'")
    assert {s for (s,) in settings} == {"work_mem=16MB", "search_path=game, public"}
    assert c.query(acl_query) == wanted_acl
    assert not {n for n in c.databases() if "__pgstead_" in n}
    c.query("ALTER DATABASE shop RESET ALL")
    c.query("GRANT CONNECT, TEMPORARY ON DATABASE shop TO PUBLIC")


def test_replace_keeps_the_old_database_when_the_fresh_backup_is_unverified(
        restore_cluster, shop_backups):
    c = restore_cluster
    shop_backups.configure(databases=("shop",), verify=False)
    c.query("INSERT INTO t VALUES (100002, 'only here', NULL)", "shop")

    proc = shop_backups.restore("--database", "shop", "--replace")

    assert proc.returncode == 0, proc.stderr
    old = json_lines(proc.stdout)[-1]["old_database"]
    assert old.startswith("shop__pgstead_old_")
    assert c.query("SELECT v FROM t WHERE id = 100002", old) == [("only here",)]
    assert c.query("SELECT v FROM t WHERE id = 100002", "shop") == []


# ---------------------------------------------------------------- how the program is invoked


def run_as_root(program: Path, config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(program), "--config", str(config), *args],
                          capture_output=True, text=True, timeout=300, cwd="/")


def test_root_running_natively_becomes_postgres(cluster, area):
    a = area(databases=("app",))
    proc = run_as_root(BACKUP, a.config)
    assert proc.returncode == 0, proc.stderr
    (set_dir,) = a.sets("app")
    assert set_dir.owner() == "postgres"
    assert (set_dir / "database.dump.zst").stat().st_mode & 0o777 == 0o640


def test_exec_prefix_streams_dumps_to_this_host(cluster):
    """With PG_EXEC (docker compose exec in real life) every client tool runs through the
    prefix and the dump reaches this host over stdout; here the prefix is runuser. The
    connection goes as a superuser not named postgres, as in an image with POSTGRES_USER."""
    cluster.query("CREATE ROLE pgstead_boss SUPERUSER LOGIN")
    cluster.query("ALTER SYSTEM SET log_connections = on")
    cluster.query("SELECT pg_reload_conf()")
    a = BackupArea(cluster)
    try:
        shutil.chown(a.dir, "root", "root")
        backups = Backups(enabled=True, dir=str(a.dir), databases=("app",), format="custom",
                          compression="gzip")
        a.config.write_text(render_backup_config(
            "bk", backups, port=cluster.port, major=15, pg_exec="runuser -u postgres --",
            socket_dir="127.0.0.1", superuser="pgstead_boss"))
        proc = run_as_root(BACKUP, a.config)
        assert proc.returncode == 0, proc.stderr + a.log()
        (set_dir,) = a.sets("app")
        assert set_dir.owner() == "root"
        assert a.manifest(set_dir)["verified"] is True

        proc = run_as_root(RESTORE, a.config, "--database", "app", "--into", "app_via_exec")
        assert proc.returncode == 0, proc.stderr
        assert row_counts(cluster, "app_via_exec") == row_counts(cluster, "app")
        server_log = Path(f"/var/log/postgresql/postgresql-15-{cluster.name}.log").read_text()
        assert "connection authorized: user=pgstead_boss database=app" in server_log
    finally:
        cluster.query("DROP DATABASE IF EXISTS app_via_exec WITH (FORCE)")
        cluster.query("DROP ROLE pgstead_boss")
        a.remove()


@pytest.fixture
def small_disk():
    mount = Path(tempfile.mkdtemp(prefix="pgstead-full-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k,mode=0755", "tmpfs", str(mount)],
                   check=True)
    yield mount
    subprocess.run(["umount", str(mount)], check=True)
    mount.rmdir()


def test_full_disk_fails_the_run_and_keeps_older_sets(cluster, small_disk):
    cluster.query("CREATE DATABASE bulk")
    cluster.query("CREATE TABLE noise (v text)", "bulk")
    a = BackupArea(cluster, databases=("bulk",), compression="none")
    try:
        backup_dir = small_disk / "backups"
        backup_dir.mkdir()
        shutil.chown(backup_dir, "postgres", "postgres")
        a.configure(dir=str(backup_dir), databases=("bulk",), compression="none")
        a.dir = backup_dir
        a.backup()
        (first,) = a.sets("bulk")
        # Random text does not compress: this dump cannot fit in what is left of 400 kB.
        cluster.query("INSERT INTO noise SELECT md5(random()::text) || md5(random()::text) "
                      "FROM generate_series(1, 20000)", "bulk")

        proc = a.run()

        assert proc.returncode == 1
        assert "No space left on device" in a.log()
        assert a.last_run()["status"] == "failed"
        assert a.sets("bulk") == [first] and (first / "manifest.json").exists()
        assert not list(backup_dir.glob("*/.*.partial"))
        assert not any(n.startswith("pgstead_verify_") for n in cluster.databases())
    finally:
        a.remove()
        cluster.query("DROP DATABASE bulk WITH (FORCE)")


def test_failed_replace_leaves_the_database_as_it_was(restore_cluster, shop_backups):
    c = restore_cluster
    shop_backups.configure(databases=("shop",), format="plain", compression="none")
    shop_backups.backup()
    set_dir = shop_backups.good_sets("shop")[-1]
    dump = set_dir / "database.sql"
    # Cut short, with checksums to match: only the restore itself can fail.
    dump.write_text(dump.read_text()[: dump.stat().st_size // 2])
    subprocess.run(["bash", "-c", "sha256sum database.sql database.tsv row-counts.tsv "
                    "> SHA256SUMS"], cwd=set_dir, check=True)
    before = content_checksum(c, "shop"), row_counts(c, "shop")

    proc = shop_backups.restore("--database", "shop", "--replace", "--from", set_dir.name)

    assert proc.returncode == 1
    assert "shop was not changed" in proc.stderr
    assert (content_checksum(c, "shop"), row_counts(c, "shop")) == before
    assert c.query("SELECT datallowconn FROM pg_database WHERE datname = 'shop'") == [(True,)]
    assert not {n for n in c.databases() if "__pgstead_" in n}


def test_odd_database_names_survive_backup_list_and_restore(cluster, area):
    odd = "_Odd/na'me \"x\" ü.%2F"
    cluster.query(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(odd)))
    cluster.query("CREATE TABLE \"T\" (id int)", odd)
    cluster.query("INSERT INTO \"T\" SELECT generate_series(1, 7)", odd)
    try:
        a = area(databases=(odd,))
        a.backup()
        (listed,) = [r for r in a.listing() if r["kind"] == "database"]
        assert listed["db"] == odd and listed["verified"] is True
        assert Path(listed["path"]).parent.parent == a.dir

        proc = a.restore("--database", odd, "--into", "odd copy")
        assert proc.returncode == 0, proc.stderr
        assert row_counts(cluster, "odd copy") == {'public."T"': 7}
    finally:
        for name in (odd, "odd copy"):
            cluster.query(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def test_a_refused_database_fails_the_run_but_not_the_others(cluster, area):
    hba = Path(f"/etc/postgresql/15/{cluster.name}/pg_hba.conf")
    original = hba.read_text()
    cluster.query("CREATE DATABASE refused")
    hba.write_text("local refused all reject\n" + original)
    cluster.query("SELECT pg_reload_conf()")
    try:
        a = area(databases=None)
        proc = a.run()
        assert proc.returncode == 1
        run = a.last_run()
        by_db = {d["db"]: d for d in run["databases"]}
        assert by_db["refused"]["status"] == "failed"
        assert "pg_hba.conf rejects connection" in by_db["refused"]["error"]
        assert by_db["app"]["status"] == "ok" and by_db["app"]["verified"] is True
        assert not (a.dir / "refused").exists()
    finally:
        hba.write_text(original)
        cluster.query("SELECT pg_reload_conf()")
        cluster.query("DROP DATABASE refused")


def test_a_large_log_is_rotated(cluster, area):
    a = area(databases=("app",), verify=False)
    log = a.dir / "pgstead-backup.log"
    log.write_text("old line\n" * 1_300_000)
    shutil.chown(log, "postgres", "postgres")
    a.backup()
    assert (a.dir / "pgstead-backup.log.1").read_text().startswith("old line")
    assert "backup run started" in log.read_text() and log.stat().st_size < 10_000


def test_retention_also_limits_failed_sets(cluster, area):
    a = area(databases=("app",), keep=1, verify=False)
    for _ in range(2):
        a.backup()
        newest = a.good_sets("app")[-1]
        os.truncate(newest / "database.dump.zst", 100)
        assert a.run("--verify-set", f"app/{newest.name}").returncode == 1
    failed = [p.name for p in a.sets("app")]
    a.backup()
    names = [p.name for p in a.sets("app")]
    assert names == [failed[-1], a.good_sets("app")[-1].name]
    assert names[0].endswith(".failed")
