"""pgbouncer in front of a real cluster, through real pyinfra runs: SCRAM logins over
verify-full, refusals, a password rotation, a reload that keeps clients, 500 clients on the
declared server connections, a budget refused before anything is touched, a crashed pgbouncer
brought back by its supervisor (no systemd here), and the section's removal."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from pgstead.render.daemon import RECORD_DIR, RUN_DIR, SUPERVISOR
from pgstead.render.pgbouncer import pgbouncer_paths
from tests.clusters import drop_cluster, free_port, sql, worker_ports
from tests.conftest import EnvFile, base_environment
from tests.pgstead_run import ROOT, apply, dry, pyinfra
from tests.supervised import comes_back, supervised_pid

DATABASE = "poolapp"
OWNER, WRITER = "pool_owner", "pool_rw"
OWNER_LIMIT, WRITER_LIMIT = 20, 10
OWNER_POOL = OWNER_LIMIT - 2  # connection_limit less a tenth left for direct connections
CLIENTS = 500


def pooler_port() -> int:
    """A port of this worker's share above the cluster range, free of listeners."""
    ports = worker_ports()
    return free_port(range(ports.start + 1000, ports.stop + 1000))


class Pooled:
    """One applied environment with a pooler; its passwords live in this object only."""

    def __init__(self, directory: Path) -> None:
        name = f"tpooler_{os.getpid() % 10000}"
        port = free_port()
        self.env = EnvFile(directory, name, port, base_environment(name, port))
        self.passwords = {OWNER: secrets.token_urlsafe(18), WRITER: secrets.token_urlsafe(18)}
        self.pooler_port = pooler_port()
        data = self.env.data
        data["tls"] = {"enabled": True, "require": True, "ca": "generate"}
        data["databases"] = [{"name": DATABASE, "owner": OWNER}]
        data["users"] = [
            {"name": OWNER, "password": {"env": "POOL_OWNER_PW"}, "role": "owner",
             "database": DATABASE, "connection_limit": OWNER_LIMIT},
            {"name": WRITER, "password": {"env": "POOL_RW_PW"}, "role": "readwrite",
             "database": DATABASE, "connection_limit": WRITER_LIMIT},
        ]
        data["hba"] = [  # direct connections over TCP, as DIRECT_DATABASE_URL makes them
            {"type": "hostssl", "database": DATABASE, "user": user, "address": address,
             "method": "scram-sha-256"}
            for user in (OWNER, WRITER) for address in ("127.0.0.1/32", "::1/128")]
        data["pooler"] = {"port": self.pooler_port, "listen_addresses": ["127.0.0.1"],
                          "max_client_conn": 1000}
        self.env.write()
        self.paths = pgbouncer_paths(name)
        self.daemon = f"pgbouncer-{name}"

    @property
    def secrets_env(self) -> dict[str, str]:
        return {"POOL_OWNER_PW": self.passwords[OWNER], "POOL_RW_PW": self.passwords[WRITER]}

    def apply(self, *args: str):
        return apply(self.env.path, self.env.state_dir, *args, extra_env=self.secrets_env)

    def dry(self):
        return dry(self.env.path, self.env.state_dir, extra_env=self.secrets_env)

    @property
    def ca(self) -> Path:
        return self.env.state_dir / self.env.name / "pki" / "ca.crt"

    def conninfo(self, user: str, password: str, database: str = DATABASE) -> str:
        return psycopg.conninfo.make_conninfo(
            host="localhost", port=self.pooler_port, dbname=database, user=user,
            password=password, sslmode="verify-full", sslrootcert=str(self.ca),
            require_auth="scram-sha-256", connect_timeout=20)

    def connect(self, user: str, password: str | None = None) -> psycopg.Connection:
        return psycopg.connect(self.conninfo(user, password or self.passwords[user]),
                               autocommit=True)

    def pgbouncer_pid(self) -> int:
        """pgbouncer's own pid (pgstead-supervise's child: setpriv and env exec into it)."""
        return supervised_pid(self.daemon, "/usr/sbin/pgbouncer")

    def stop(self) -> None:
        subprocess.run([SUPERVISOR, "remove", self.daemon, "30"], check=False)
        for path in (self.paths.config, self.paths.auth_file, self.paths.log):
            Path(path).unlink(missing_ok=True)


@pytest.fixture(scope="module")
def pooled(tmp_path_factory):
    setup = Pooled(tmp_path_factory.mktemp("pooler"))
    try:
        setup.apply()
        yield setup
    finally:
        setup.stop()
        drop_cluster(15, setup.env.name)


def server_connections(pooled: Pooled, user: str) -> int:
    return int(sql(pooled.env.port, "SELECT count(*) FROM pg_stat_activity "
                                    f"WHERE usename = '{user}'"))


def digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_second_apply_and_dry_run_change_nothing(pooled):
    assert pooled.apply().changed == []
    assert pooled.dry().changed == []


def test_auth_file_holds_the_servers_verifiers_readable_by_postgres_only(pooled):
    auth = Path(pooled.paths.auth_file)
    assert oct(auth.stat().st_mode & 0o777) == "0o600"
    assert auth.owner() == "postgres"
    stored = dict(line.split("|") for line in sql(
        pooled.env.port, "SELECT rolname || '|' || rolpassword FROM pg_authid "
                         f"WHERE rolname IN ('{OWNER}', '{WRITER}')").splitlines())
    held = {user.strip('"'): verifier.strip('"') for user, verifier in
            (line.split(" ", 1) for line in auth.read_text().splitlines())}
    assert held == stored
    environ = Path(f"/proc/{pooled.pgbouncer_pid()}/environ").read_bytes()
    for password in pooled.passwords.values():
        assert password not in auth.read_text()
        assert password not in Path(pooled.paths.config).read_text()
        assert password.encode() not in environ  # the deploy's environment is not inherited


def test_each_user_logs_in_through_the_pooler_with_scram_over_verify_full(pooled):
    for user in (OWNER, WRITER):
        with pooled.connect(user) as conn:
            assert conn.pgconn.ssl_in_use
            assert conn.info.port == pooled.pooler_port
            who, port, address = conn.execute(
                "SELECT current_user, current_setting('port'), inet_client_addr()").fetchone()
            assert who == user
            assert int(port) == pooled.env.port
            assert address is None  # the server saw the pooler on its local socket


def pgstead_env(pooled: Pooled, user: str, *args: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, **pooled.secrets_env, "PGSTEAD_STATE_DIR": str(pooled.env.state_dir),
               "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "pgstead.cli", "env", str(pooled.env.path),
                           "--user", user, "--format", "json", "--show-secrets", *args],
                          capture_output=True, text=True, env=environ, timeout=60, check=True)


def test_env_urls_go_through_the_pooler_and_directly_to_the_server(pooled):
    run = pgstead_env(pooled, OWNER, "--driver", "psycopg")
    variables = json.loads(run.stdout)
    assert "prepare_threshold=None" in run.stderr and "transaction" in run.stderr
    assert variables["DB_POOL_MODE"] == "transaction"
    with psycopg.connect(variables["DATABASE_URL"], prepare_threshold=None) as conn:
        assert conn.info.port == pooled.pooler_port
        assert conn.execute("SELECT inet_client_addr()").fetchone() == (None,)
    with psycopg.connect(variables["DIRECT_DATABASE_URL"]) as conn:
        assert conn.info.port == pooled.env.port
        # A migration's session advisory lock: only a direct connection keeps it.
        assert conn.execute("SELECT pg_try_advisory_lock(42)").fetchone() == (True,)
        assert conn.execute("SELECT inet_client_addr() IS NOT NULL").fetchone() == (True,)


def test_env_puts_a_drivers_url_setting_in_database_url(pooled):
    variables = json.loads(pgstead_env(pooled, WRITER, "--driver", "pgx").stdout)
    assert "default_query_exec_mode=simple_protocol" in variables["DATABASE_URL"]
    assert "default_query_exec_mode" not in variables["DIRECT_DATABASE_URL"]


def test_wrong_password_is_refused(pooled):
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        pooled.connect(OWNER, "not-" + pooled.passwords[OWNER])


def test_postgres_superuser_is_refused_through_the_pooler(pooled):
    for database in (DATABASE, "postgres"):
        with pytest.raises(psycopg.OperationalError, match="authentication failed"):
            psycopg.connect(pooled.conninfo("postgres", "anything", database))


def test_client_without_tls_is_refused(pooled):
    with pytest.raises(psycopg.OperationalError, match="SSL required"):
        psycopg.connect(host="127.0.0.1", port=pooled.pooler_port, dbname=DATABASE,
                        user=OWNER, password=pooled.passwords[OWNER], sslmode="disable",
                        connect_timeout=10)


async def _hold_clients(pooled: Pooled, count: int) -> tuple[int, int]:
    """`count` clients connected at once, each running a short query while the server's
    connections of that user are sampled; (queries answered, most server connections seen)."""
    gate = asyncio.Semaphore(50)  # connection setup in waves: TLS and SCRAM cost CPU

    async def connect() -> psycopg.AsyncConnection:
        async with gate:
            return await psycopg.AsyncConnection.connect(
                pooled.conninfo(OWNER, pooled.passwords[OWNER]), autocommit=True)

    clients = await asyncio.gather(*(connect() for _ in range(count)))
    most = 0
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal most
        while not done.is_set():
            most = max(most, await asyncio.to_thread(server_connections, pooled, OWNER))
            await asyncio.sleep(0.05)

    async def query(conn: psycopg.AsyncConnection) -> int:
        cursor = await conn.execute("SELECT 1 FROM pg_sleep(0.05)")
        return (await cursor.fetchone())[0]

    sampler = asyncio.create_task(sample())
    try:
        answers = await asyncio.gather(*(query(c) for c in clients))
        assert all(c.info.status == psycopg.pq.ConnStatus.OK for c in clients)
    finally:
        done.set()
        await sampler
        await asyncio.gather(*(c.close() for c in clients))
    return sum(answers), most


def test_500_clients_share_the_declared_server_connections(pooled):
    answered, most = asyncio.run(_hold_clients(pooled, CLIENTS))
    assert answered == CLIENTS
    assert 1 <= most <= OWNER_POOL


def test_config_change_reloads_pgbouncer_and_keeps_its_clients(pooled):
    pid = pooled.pgbouncer_pid()
    config = digest(pooled.paths.config)
    with pooled.connect(WRITER) as held:
        pooled.env.data["pooler"]["databases"] = [{"name": DATABASE, "pool_mode": "session"}]
        pooled.env.write()
        assert any("pgbouncer" in name for name in pooled.dry().changed)
        assert digest(pooled.paths.config) == config  # the dry run wrote nothing
        changed = pooled.apply().changed
        assert [name for name in changed if "pgbouncer" in name] != []
        assert "pool_mode=session" in Path(pooled.paths.config).read_text()
        assert pooled.pgbouncer_pid() == pid  # reloaded, not restarted
        assert held.execute("SELECT 1").fetchone() == (1,)
    assert pooled.apply().changed == []


def test_budget_that_does_not_fit_is_refused_before_the_host_is_touched(pooled):
    before = {path: digest(path) for path in (pooled.paths.config, pooled.paths.auth_file)}
    pooled.env.data["pooler"]["direct_connections"] = 21  # 27 pooled + 21 + 3 reserved > 50
    pooled.env.write()
    try:
        run = pyinfra("@local", env_file=pooled.env.path, state_dir=pooled.env.state_dir,
                      json_report=False, extra_env=pooled.secrets_env)
        output = run.stdout + run.stderr
        assert run.returncode == 2, output
        assert f"{pooled.env.path}:" in output and ": pooler: " in output, output
        assert "21 pooler.direct_connections" in output
        assert "= 51, more than max_connections 50" in output
        assert "Starting operation" not in output
        assert {path: digest(path) for path in before} == before
    finally:
        del pooled.env.data["pooler"]["direct_connections"]
        pooled.env.write()


def test_password_rotation_lets_the_new_password_in_and_refuses_the_old(pooled):
    old = pooled.passwords[WRITER]
    auth = digest(pooled.paths.auth_file)
    pid = pooled.pgbouncer_pid()
    pooled.passwords[WRITER] = secrets.token_urlsafe(18)
    planned = pooled.dry().changed
    assert any("pgbouncer" in name for name in planned)
    assert digest(pooled.paths.auth_file) == auth
    pooled.apply()
    assert digest(pooled.paths.auth_file) != auth
    assert pooled.pgbouncer_pid() == pid
    deadline = time.monotonic() + 60
    while True:  # the reload is a signal: pgbouncer reads the file right after
        try:
            with pooled.connect(WRITER) as conn:
                assert conn.execute("SELECT current_user").fetchone() == (WRITER,)
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        pooled.connect(WRITER, old)
    assert pooled.apply().changed == []


def login_works(pooled: Pooled, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with pooled.connect(WRITER) as conn:
                assert conn.execute("SELECT current_user").fetchone() == (WRITER,)
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_a_killed_pgbouncer_comes_back_by_itself_and_the_next_apply_changes_nothing(pooled):
    killed = pooled.pgbouncer_pid()
    os.kill(killed, 9)
    pid = comes_back(pooled.daemon, "/usr/sbin/pgbouncer", killed)
    login_works(pooled)
    assert pooled.pgbouncer_pid() == pid
    assert pooled.dry().changed == []
    assert pooled.apply().changed == []
    assert pooled.pgbouncer_pid() == pid


def test_a_pgbouncer_started_by_an_older_release_is_replaced_once(pooled):
    """An older pgstead ran pgbouncer under start-stop-daemon with a pid file of its own: the
    next apply stops that instance and starts pgstead-supervise's, once."""
    subprocess.run([SUPERVISOR, "remove", pooled.daemon, "30"], check=True)
    old = Path(RUN_DIR) / f"pgstead-{pooled.daemon}"
    subprocess.run(["start-stop-daemon", "--start", "--quiet", "--background",
                    "--make-pidfile", "--pidfile", f"{old}.pid", "--chuid", "postgres",
                    "--startas", "/usr/sbin/pgbouncer", "--", pooled.paths.config], check=True)
    old.with_suffix(".key").write_text("an older release's restart key")
    legacy = int(Path(f"{old}.pid").read_text())
    login_works(pooled)
    try:
        assert any("pgbouncer" in name for name in pooled.dry().changed)
        assert any("pgbouncer" in name for name in pooled.apply().changed)
        assert not Path(f"/proc/{legacy}").exists() or "pgbouncer" not in Path(
            f"/proc/{legacy}/cmdline").read_text()
        assert not Path(f"{old}.pid").exists() and not old.with_suffix(".key").exists()
        pid = pooled.pgbouncer_pid()
        login_works(pooled)
        assert pooled.apply().changed == []
        assert pooled.pgbouncer_pid() == pid
    finally:
        subprocess.run(["start-stop-daemon", "--stop", "--quiet", "--oknodo", "--pidfile",
                        f"{old}.pid", "--remove-pidfile"], check=False)


def test_removing_the_pooler_section_stops_pgsteads_pgbouncer_and_removes_it(pooled):
    pid = pooled.pgbouncer_pid()
    record = Path(RECORD_DIR) / pooled.daemon
    assert record.exists()
    section = pooled.env.data.pop("pooler")
    pooled.env.write()
    try:
        planned = pooled.dry().changed
        assert any("No pooler" in name for name in planned), planned
        assert Path(f"/proc/{pid}").exists() and record.exists()  # the dry run touched nothing
        changed = pooled.apply().changed
        assert changed == planned
        assert not Path(f"/proc/{pid}").exists() or "pgbouncer" not in Path(
            f"/proc/{pid}/cmdline").read_text()
        assert not record.exists()
        assert not Path(pooled.paths.config).exists()
        assert not Path(pooled.paths.auth_file).exists()
        status = subprocess.run([SUPERVISOR, "status", pooled.daemon], capture_output=True,
                                text=True, check=True)
        assert status.stdout.strip() == "stopped"
        with pytest.raises(psycopg.OperationalError):
            pooled.connect(WRITER).close()
        assert pooled.apply().changed == []
        assert pooled.dry().changed == []
    finally:
        pooled.env.data["pooler"] = section
        pooled.env.write()
