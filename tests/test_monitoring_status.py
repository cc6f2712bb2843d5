"""The exporter and `pgstead status` on a real cluster with a pooler and backups: /metrics on
localhost only with pg_up 1, database sizes and statements, no password where it can read,
a status screen that is healthy (exit 0) until a backup goes stale and a user hogs its
connections (exit 1, naming each), a crashed exporter brought back by its supervisor (no
systemd here), and `exporter: false` removing it."""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from pgstead.config.secrets import generated_password_path
from pgstead.render.cron import backup_command, cron_file_path
from pgstead.render.daemon import RECORD_DIR, SUPERVISOR
from pgstead.render.exporter import EXPORTER, exporter_paths
from pgstead.render.pgbouncer import pgbouncer_paths
from tests.clusters import drop_cluster, free_port, sql, worker_ports
from tests.conftest import EnvFile, base_environment
from tests.pgstead_run import ROOT, apply, dry
from tests.supervised import comes_back, supervised_pid

DATABASE = "monapp"
EXTRA_DATABASE = "monreports"
OWNER, WRITER = "mon_owner", "mon_rw"
WRITER_LIMIT = 10
BACKUPS = Path("/var/backups/pgstead-status-test")


def _port(offset: int) -> int:
    ports = worker_ports()
    return free_port(range(ports.start + offset, ports.stop + offset))


class Monitored:
    def __init__(self, directory: Path) -> None:
        name = f"tmonitor_{os.getpid() % 10000}"
        port = free_port()
        self.env = EnvFile(directory, name, port, base_environment(name, port))
        self.passwords = {OWNER: secrets.token_urlsafe(18), WRITER: secrets.token_urlsafe(18)}
        self.pooler_port, self.exporter_port = _port(1000), _port(2000)
        self.backup_dir = BACKUPS / name
        data = self.env.data
        data["tls"] = {"enabled": True, "require": True, "ca": "generate"}
        data["databases"] = [{"name": DATABASE, "owner": OWNER}]
        data["users"] = [
            {"name": OWNER, "password": {"env": "MON_OWNER_PW"}, "role": "owner",
             "database": DATABASE, "connection_limit": 20},
            {"name": WRITER, "password": {"env": "MON_RW_PW"}, "role": "readwrite",
             "database": DATABASE, "connection_limit": WRITER_LIMIT},
        ]
        data["pooler"] = {"port": self.pooler_port, "listen_addresses": ["127.0.0.1"]}
        data["monitoring"] = {"port": self.exporter_port}
        data["backups"] = {"enabled": True, "schedule": "0 3 * * *",
                           "dir": str(self.backup_dir), "keep": 2, "verify": True}
        self.env.write()
        self.name = name

    @property
    def secrets_env(self) -> dict[str, str]:
        return {"MON_OWNER_PW": self.passwords[OWNER], "MON_RW_PW": self.passwords[WRITER]}

    def apply(self):
        return apply(self.env.path, self.env.state_dir, extra_env=self.secrets_env)

    def status(self, *args: str) -> subprocess.CompletedProcess:
        environ = {**os.environ, "PGSTEAD_STATE_DIR": str(self.env.state_dir),
                   "PYTHONPATH": str(ROOT)}
        return subprocess.run([sys.executable, "-m", "pgstead.cli", "status",
                               str(self.env.path), *args], capture_output=True, text=True,
                              env=environ, cwd=ROOT, timeout=120)

    def direct(self, user: str) -> psycopg.Connection:
        return psycopg.connect(host="/var/run/postgresql", port=self.env.port, dbname=DATABASE,
                               user=user, password=self.passwords[user], autocommit=True)

    def metrics(self, seconds: float = 60) -> str:
        url = f"http://127.0.0.1:{self.exporter_port}/metrics"
        deadline = time.monotonic() + seconds
        while True:  # the exporter was just started in the background
            try:
                with urllib.request.urlopen(url, timeout=10) as answer:
                    text = answer.read().decode()
                if "pg_up 1" in text or time.monotonic() > deadline:
                    return text
            except OSError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.5)

    @property
    def exporter(self) -> str:
        return f"exporter-{self.name}"

    def exporter_pid(self) -> int:
        return supervised_pid(self.exporter, EXPORTER)

    def stop(self) -> None:
        for daemon in (self.exporter, f"pgbouncer-{self.name}"):
            subprocess.run([SUPERVISOR, "remove", daemon, "30"], check=False)
        paths, pooler = exporter_paths(self.name), pgbouncer_paths(self.name)
        for path in (paths.queries, paths.log, pooler.config, pooler.auth_file, pooler.log,
                     cron_file_path(self.name)):
            Path(path).unlink(missing_ok=True)
        shutil.rmtree(self.backup_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def monitored(tmp_path_factory):
    setup = Monitored(tmp_path_factory.mktemp("monitoring"))
    try:
        setup.apply()
        with setup.direct(OWNER) as conn:  # the owner's table: its default privileges apply
            conn.execute("CREATE TABLE public.orders AS SELECT g AS id, md5(g::text) AS note "
                         "FROM generate_series(1, 20000) AS g")
        subprocess.run(["runuser", "-u", "postgres", "--", "sh", "-c",
                        backup_command(setup.name)], check=True, capture_output=True)
        yield setup
    finally:
        setup.stop()
        drop_cluster(15, setup.env.name)


def test_second_apply_and_dry_run_change_nothing(monitored):
    planned = dry(monitored.env.path, monitored.env.state_dir, extra_env=monitored.secrets_env)
    assert planned.changed == [], planned.stderr[-3000:]
    assert monitored.apply().changed == []


def test_exporter_metrics_have_pg_up_database_sizes_and_statements(monitored):
    with monitored.direct(WRITER) as conn:
        for _ in range(3):
            conn.execute("SELECT count(*) FROM public.orders WHERE id < 100")
    text = monitored.metrics()
    assert "pg_up 1" in text.splitlines()
    assert any(line.startswith("pg_database_size_bytes{") and f'datname="{DATABASE}"' in line
               for line in text.splitlines())
    statements = [line for line in text.splitlines()
                  if line.startswith("pgstead_statements_calls{")]
    assert statements, text[-2000:]
    assert "SCRAM-SHA-256" not in sql(monitored.env.port,
                                      "SELECT string_agg(query, ' ') FROM pg_stat_statements")


def statements_installed(port: int, database: str) -> bool:
    return sql(port, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'",
               dbname=database) == "1"


def test_pg_stat_statements_in_postgres_and_every_declared_database(monitored):
    for database in ("postgres", DATABASE):
        assert statements_installed(monitored.env.port, database), database
    # Its views keep the extension's privileges: the readwrite user reads its own statements
    # through its USAGE on the locked public schema, and got no write privilege on them.
    with monitored.direct(WRITER) as conn:
        conn.execute("SELECT count(*) FROM public.orders")
        texts = [row[0] for row in conn.execute("SELECT query FROM pg_stat_statements")]
        assert any("public.orders" in q for q in texts)
        writable = conn.execute(
            "SELECT has_table_privilege('public.pg_stat_statements', 'INSERT, UPDATE, DELETE')"
        ).fetchone()[0]
        assert writable is False
    # public stays closed to PUBLIC (hardening's public_schema_usage).
    assert sql(monitored.env.port, "SELECT has_schema_privilege('public', 'public', 'USAGE')",
               dbname=DATABASE) == "f"


def test_a_new_database_gets_pg_stat_statements_as_planned(monitored):
    data = monitored.env.data
    data["databases"].append({"name": EXTRA_DATABASE, "owner": OWNER})
    monitored.env.write()
    try:
        planned = dry(monitored.env.path, monitored.env.state_dir,
                      extra_env=monitored.secrets_env)
        assert planned.failed == [], planned.stderr[-3000:]
        assert f"{EXTRA_DATABASE}: create extension pg_stat_statements" in planned.stderr
        applied = monitored.apply()
        assert applied.changed == planned.changed
        assert statements_installed(monitored.env.port, EXTRA_DATABASE)
        assert monitored.apply().changed == []
    finally:
        data["databases"].pop()
        monitored.env.write()


def test_exporter_listens_on_localhost_only(monitored):
    pid = monitored.exporter_pid()
    listening = subprocess.run(["ss", "-H", "-ltnp"], capture_output=True, text=True,
                               check=True).stdout.splitlines()
    mine = [line.split()[3] for line in listening if f"pid={pid}," in line]
    assert mine == [f"127.0.0.1:{monitored.exporter_port}"]


def test_no_password_in_anything_the_exporter_reads(monitored):
    pid = monitored.exporter_pid()
    read = [Path(f"/proc/{pid}/environ").read_bytes(), Path(f"/proc/{pid}/cmdline").read_bytes(),
            Path(exporter_paths(monitored.name).queries).read_bytes()]
    for password in monitored.passwords.values():
        assert not any(password.encode() in blob for blob in read)
    assert b"password" not in read[0].lower()
    # It runs as prometheus, which cannot read the pooler's verifiers or the server's key.
    for secret in (pgbouncer_paths(monitored.name).auth_file,
                   f"/etc/postgresql/15/{monitored.name}/server.key"):
        denied = subprocess.run(["runuser", "-u", "prometheus", "--", "cat", secret],
                                capture_output=True)
        assert denied.returncode != 0


def test_status_on_a_healthy_host_exits_0(monitored):
    run = monitored.status()
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert "primary" in out and "problems      none" in out
    assert f"{WRITER} 0/{WRITER_LIMIT}" in out
    assert f"pooler        port {monitored.pooler_port}: 0 clients waiting" in out
    assert "verified" in out and "NOT verified" not in out
    assert "days left" in out and f"{DATABASE}.public.orders" in out
    assert "top statements (total time)" in out


def test_status_names_a_stale_backup_and_a_connection_hog(monitored):
    last_run = monitored.backup_dir / "last-run.json"
    saved = last_run.read_text()
    stale = json.loads(saved)
    stale["finished"] = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    last_run.write_text(json.dumps(stale))
    hogs = [monitored.direct(WRITER) for _ in range(WRITER_LIMIT)]
    try:
        run = monitored.status()
        assert run.returncode == 1, run.stdout + run.stderr
        problems = [line for line in run.stdout.splitlines() if line.startswith("  problem: ")]
        assert any(f"user {WRITER} holds {WRITER_LIMIT} of its connection_limit "
                   f"{WRITER_LIMIT}" in p for p in problems), run.stdout
        assert any("backup: the last one is 72" in p and "'0 3 * * *'" in p
                   for p in problems), run.stdout
        document = json.loads(monitored.status("--format", "json").stdout)
        assert len(document[0]["problems"]) == len(problems)
    finally:
        for conn in hogs:
            conn.close()
        last_run.write_text(saved)
    assert monitored.status().returncode == 0


def test_exporter_on_a_declared_address_serves_tls_with_basic_auth(monitored):
    monitored.env.data["monitoring"]["listen_address"] = "127.0.0.2"
    monitored.env.write()
    try:
        monitored.apply()
        password = generated_password_path(monitored.env.state_dir / monitored.name,
                                           "exporter-web").read_text().strip()
        url = f"https://127.0.0.2:{monitored.exporter_port}/metrics"
        context = ssl.create_default_context(
            cafile=str(monitored.env.state_dir / monitored.name / "pki" / "ca.crt"))
        context.check_hostname = False  # the certificate names the server, not 127.0.0.2

        def fetch(auth: str | None) -> tuple[int, str]:
            request = urllib.request.Request(url)
            if auth is not None:
                request.add_header("Authorization", "Basic " + base64.b64encode(
                    auth.encode()).decode())
            try:
                with urllib.request.urlopen(request, timeout=10, context=context) as answer:
                    return answer.status, answer.read().decode()
            except urllib.error.HTTPError as error:
                return error.code, ""

        deadline = time.monotonic() + 60
        while True:  # restarted in the background by the apply
            try:
                status, _ = fetch(None)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        assert status == 401
        assert fetch("prometheus:wrong")[0] == 401
        status, text = fetch(f"prometheus:{password}")
        assert status == 200 and "pg_up 1" in text.splitlines()
        web = Path(exporter_paths(monitored.name).web_config).read_text()
        assert password not in web and "$2b$" in web
        assert monitored.apply().changed == []
    finally:
        monitored.env.data["monitoring"].pop("listen_address")
        monitored.env.write()
        monitored.apply()


def test_a_killed_exporter_comes_back_by_itself_and_the_next_apply_changes_nothing(monitored):
    killed = monitored.exporter_pid()
    os.kill(killed, 9)
    pid = comes_back(monitored.exporter, EXPORTER, killed)
    assert "pg_up 1" in monitored.metrics(seconds=120).splitlines()
    assert dry(monitored.env.path, monitored.env.state_dir,
               extra_env=monitored.secrets_env).changed == []
    assert monitored.apply().changed == []
    assert monitored.exporter_pid() == pid


def test_exporter_false_stops_pgsteads_exporter_and_removes_it(monitored):
    pid = monitored.exporter_pid()
    record = Path(RECORD_DIR) / monitored.exporter
    queries = Path(exporter_paths(monitored.name).queries)
    assert record.exists() and queries.exists()
    monitored.env.data["monitoring"]["exporter"] = False
    monitored.env.write()
    try:
        planned = dry(monitored.env.path, monitored.env.state_dir,
                      extra_env=monitored.secrets_env).changed
        assert any("No exporter" in name for name in planned), planned
        assert Path(f"/proc/{pid}").exists() and record.exists()  # the dry run touched nothing
        assert monitored.apply().changed == planned
        assert not Path(f"/proc/{pid}").exists() or "exporter" not in Path(
            f"/proc/{pid}/cmdline").read_text()
        assert not record.exists() and not queries.exists()
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{monitored.exporter_port}/metrics",
                                   timeout=10)
        # The pooler, supervised the same way, is untouched.
        assert Path(RECORD_DIR, f"pgbouncer-{monitored.name}").exists()
        assert monitored.apply().changed == []
        assert dry(monitored.env.path, monitored.env.state_dir,
                   extra_env=monitored.secrets_env).changed == []
    finally:
        del monitored.env.data["monitoring"]["exporter"]
        monitored.env.write()
