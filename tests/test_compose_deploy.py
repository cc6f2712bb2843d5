"""install: compose on this machine's Docker engine: the same access and TLS as native mode,
reached over the published port; idempotent; data kept across re-creation; majors guarded."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from pgstead.pki import server_cert_paths
from pgstead.render.cron import cron_file_path
from tests.conftest import EnvFile, base_environment
from tests.pgstead_run import ROOT, apply, dry, pyinfra
from tests.test_access import OWNER_PW, RW_PW, access_data, generated_password, login, passwords
from tests.test_tls_deploy import CERT_USER, DATABASE, PASSWORD, PASSWORD_USER, connect, pki

pytestmark = pytest.mark.docker

IMAGE = "pgstead/postgres:15"
WRAPPER = "/usr/local/sbin/pgstead-compose"


def docker(*args: str, check: bool = True, stdin: str | None = None) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, check=False,
                          input=stdin)
    if check:
        assert proc.returncode == 0, f"docker {' '.join(args)}: {proc.stderr}"
    return proc.stdout.strip()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def compose_env(directory: Path, name: str, image: str = IMAGE) -> EnvFile:
    port = free_port()
    data = base_environment(name, port)
    data["postgres"]["install"] = "compose"
    data["compose"] = {"project_dir": str(directory / "project"), "image": image,
                       "bind": "127.0.0.1"}
    return EnvFile(directory, name, port, data)


def container(env: EnvFile) -> str:
    return f"pgstead-{env.name}"


def compose_file(env: EnvFile) -> Path:
    return Path(env.data["compose"]["project_dir"]) / "compose.yaml"


def csql(env: EnvFile, query: str, dbname: str = "postgres") -> str:
    """A query as the postgres superuser inside the container, over its socket (peer)."""
    return docker("exec", "-u", "postgres", container(env), "psql", "-X", "-A", "-t", "-q",
                  "-v", "ON_ERROR_STOP=1", "-d", dbname, "-c", query)


def remove_project(env: EnvFile) -> None:
    """Test teardown only: pgstead itself never removes the data volume."""
    file = compose_file(env)
    if file.exists():
        subprocess.run(["docker-compose", "-f", str(file), "down", "-v", "--remove-orphans",
                        "-t", "5"], capture_output=True, check=False)
    docker("rm", "-f", "-v", container(env), check=False)
    docker("volume", "rm", f"pgstead-{env.name}-data", check=False)


def superuser_password(env: EnvFile) -> str:
    return (env.state_dir / env.name / "secrets" / "postgres.password").read_text().strip()


class ProcessWatch:
    """Samples every process's command line while a deploy runs."""

    def __init__(self) -> None:
        self.lines: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True)
            self.lines.update(ps.stdout.splitlines())
            self._stop.wait(0.05)

    def __enter__(self) -> ProcessWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def full_data(env: EnvFile) -> None:
    """The access test's databases and users plus the TLS test's, TLS required."""
    data = access_data(env.port)
    data["tls"] = {"enabled": True, "require": True, "ca": "generate"}
    data["databases"].append({"name": DATABASE, "owner": PASSWORD_USER})
    data["users"] += [
        {"name": PASSWORD_USER, "password": {"env": "TLS_PW"}, "role": "owner",
         "database": DATABASE},
        {"name": CERT_USER, "auth": "cert", "role": "readonly", "database": DATABASE},
    ]
    data["hba"] = [
        {"type": "hostssl", "database": DATABASE, "user": CERT_USER,
         "address": "127.0.0.1/32", "method": "cert"},
        {"type": "hostssl", "database": "all", "user": "all", "address": "127.0.0.1/32",
         "method": "scram-sha-256"},
    ]
    data["backups"] = {"enabled": True, "schedule": "0 3 * * *", "dir": str(backup_dir(env)),
                       "databases": "all", "format": "custom", "compression": "zstd",
                       "keep": 2, "verify": True}
    env.data.update(data)
    env.write()


def backup_dir(env: EnvFile) -> Path:
    return Path("/var/backups/pgstead-test") / env.name


def secrets_env() -> dict[str, str]:
    return passwords({"TLS_PW": PASSWORD})


@pytest.fixture(scope="module")
def deployed(tmp_path_factory) -> Iterator[tuple[EnvFile, object, ProcessWatch]]:
    env = compose_env(tmp_path_factory.mktemp("compose"), "tcompose_full")
    full_data(env)
    try:
        with ProcessWatch() as watch:
            first = apply(env.path, env.state_dir, extra_env=secrets_env())
        yield env, first, watch
    finally:
        remove_project(env)
        Path(cron_file_path(env.name)).unlink(missing_ok=True)
        shutil.rmtree(backup_dir(env), ignore_errors=True)


def test_first_apply_runs_the_container_and_the_second_changes_nothing(deployed):
    env, first, _ = deployed
    assert any("Service" in name for name in first.changed)
    assert docker("inspect", "-f", "{{.State.Health.Status}}", container(env)) == "healthy"
    second = apply(env.path, env.state_dir, extra_env=secrets_env())
    assert second.changed == [], f"second apply changed: {second.changed}"
    assert second.failed == []


def test_dry_run_on_the_converged_host_shows_no_change(deployed):
    env, _, _ = deployed
    plan = dry(env.path, env.state_dir, extra_env=secrets_env())
    assert plan.changed == []


def test_port_is_published_on_loopback_only(deployed):
    env, _, _ = deployed
    ports = json.loads(docker("inspect", "-f", "{{json .NetworkSettings.Ports}}", container(env)))
    assert ports["5432/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(env.port)}]


def test_settings_reach_the_container(deployed):
    env, _, _ = deployed
    assert csql(env, "SHOW max_connections") == "50"
    assert csql(env, "SHOW password_encryption") == "scram-sha-256"
    assert csql(env, "SHOW hba_file") == "/etc/pgstead/pg_hba.conf"
    assert csql(env, "SHOW data_checksums") == "on"
    assert csql(env, "SELECT count(*) FROM pg_settings WHERE pending_restart") == "0"


def test_owner_readwrite_and_readonly_work_over_the_published_port(deployed):
    env, _, _ = deployed
    with login(env.port, "app_owner", OWNER_PW) as conn:
        conn.execute("CREATE TABLE game.items (id serial PRIMARY KEY, name text)")
        conn.execute("INSERT INTO game.items (name) VALUES ('seed')")
    with login(env.port, "app-user", RW_PW) as conn:
        conn.execute("INSERT INTO game.items (name) VALUES ('sword')")
        conn.execute("DELETE FROM game.items WHERE name = 'seed'")
        assert conn.execute("SELECT name FROM game.items").fetchall() == [("sword",)]
        for statement in ("CREATE TABLE game.mine (id int)", "DROP TABLE game.items",
                          "CREATE TABLE public.mine (id int)"):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement)
    with login(env.port, "reporting", generated_password(env, "reporting")) as conn:
        assert conn.execute("SELECT name FROM game.items").fetchall() == [("sword",)]
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("INSERT INTO game.items (name) VALUES ('x')")
    # Converged after the owner's new table: the default privileges already covered it.
    assert apply(env.path, env.state_dir, extra_env=secrets_env()).changed == []


def test_public_is_locked_down_and_strangers_and_wrong_passwords_are_refused(deployed):
    env, _, _ = deployed
    grants = csql(env, "SELECT a.grantee::regrole, a.privilege_type "
                  "FROM pg_database AS d, aclexplode(d.datacl) AS a "
                  "WHERE d.datname = 'app' AND a.grantee <> d.datdba ORDER BY 1::text")
    assert grants.splitlines() == ['"app-user"|CONNECT', "reporting|CONNECT"]
    csql(env, "CREATE ROLE stranger LOGIN PASSWORD 'Visitor-Zq81-xx'")
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        login(env.port, "stranger", "Visitor-Zq81-xx")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        login(env.port, "app-user", RW_PW + "x")


def test_verify_full_by_name_and_tls_is_required(deployed):
    env, _, _ = deployed
    ca = pki(env) / "ca.crt"
    with connect(env, ca) as conn:
        row = conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert row.fetchone() == (True,)
    with pytest.raises(psycopg.OperationalError, match="does not match host name"):
        connect(env, ca, host="notinthecert.example", hostaddr="127.0.0.1")
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        connect(env, ca, sslmode="disable")


def test_client_certificate_login(deployed):
    env, _, _ = deployed
    clients = pki(env) / "clients"
    with connect(env, pki(env) / "ca.crt", user=CERT_USER, password=None,
                 sslcert=str(clients / f"{CERT_USER}.crt"),
                 sslkey=str(clients / f"{CERT_USER}.key")) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (CERT_USER,)


def test_tls_files_belong_to_the_containers_postgres_and_the_key_is_0600(deployed):
    env, _, _ = deployed
    owner = docker("run", "--rm", "--network", "none", "--entrypoint", "sh", IMAGE, "-c",
                   'echo "$(id -u postgres):$(id -g postgres)"')
    uid, gid = (int(n) for n in owner.split(":"))
    conf = Path(env.data["compose"]["project_dir"]) / "conf"
    for name, mode in (("server.key", 0o600), ("server.crt", 0o644), ("root.crt", 0o644),
                       ("pg_hba.conf", 0o640)):
        st = (conf / name).stat()
        assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (mode, uid, gid), name
    crt, key = server_cert_paths(pki(env), "@local")
    assert (conf / "server.crt").read_bytes() == crt.read_bytes()
    assert (conf / "server.key").read_bytes() == key.read_bytes()
    assert csql(env, "SHOW ssl_key_file") == "/etc/pgstead/server.key"


def test_pgstead_certs_reads_the_installed_certificate_from_the_project(deployed):
    env, _, _ = deployed
    environ = {**os.environ, "PGSTEAD_STATE_DIR": str(env.state_dir), **secrets_env()}
    proc = subprocess.run([sys.executable, "-m", "pgstead.cli", "certs", str(env.path)],
                          cwd=ROOT, capture_output=True, text=True, env=environ, timeout=60)
    assert proc.returncode == 0, proc.stderr
    conf = Path(env.data["compose"]["project_dir"]) / "conf"
    assert f"installed:   same certificate, at {conf / 'server.crt'}" in proc.stdout


def test_superuser_password_is_in_a_root_only_file_and_nowhere_else(deployed):
    env, _, watch = deployed
    password = superuser_password(env)
    assert len(password) >= 32
    project = Path(env.data["compose"]["project_dir"])
    secret = project / "secrets" / "postgres_password"
    assert secret.stat().st_mode & 0o777 == 0o600 and secret.stat().st_uid == 0
    assert secret.read_text().strip() == password
    for path in project.rglob("*"):
        if path.is_file() and path != secret:
            assert password not in path.read_text(errors="replace"), path
    inspected = docker("inspect", container(env))
    assert password not in inspected
    assert "POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password" in inspected
    # The server's own environment: the entrypoint read the file and dropped the value.
    server_environ = docker("exec", "-u", "postgres", container(env), "cat", "/proc/1/environ")
    assert password not in server_environ
    generated = [password, generated_password(env, "reporting"), OWNER_PW, RW_PW, PASSWORD]
    assert watch.lines, "the process list was never sampled"
    leaks = [line for line in watch.lines if any(secret in line for secret in generated)]
    assert leaks == []


def cron_job(env_name: str) -> tuple[str, str]:
    """(user, command) of the installed cron entry."""
    for line in Path(cron_file_path(env_name)).read_text().splitlines():
        if line and not line.startswith("#") and "=" not in line.split()[0]:
            fields = line.split(None, 6)
            return fields[5], fields[6]
    raise AssertionError("no job line in the cron entry")


def test_backup_taken_by_the_cron_command_restores(deployed):
    env, _, _ = deployed
    csql(env, "CREATE TABLE game.log AS SELECT g AS id, md5(g::text) AS hash "
              "FROM generate_series(1, 3000) g", "app")
    user, command = cron_job(env.name)
    assert user == "root"
    subprocess.run(["sh", "-c", command], check=True)
    last = json.loads((backup_dir(env) / "last-run.json").read_text())
    assert last["status"] == "ok"
    sets = [p for p in (backup_dir(env) / "app").iterdir() if p.is_dir()]
    assert len(sets) == 1
    assert json.loads((sets[0] / "manifest.json").read_text())["verified"] is True
    dump = next(p for p in sets[0].iterdir() if p.name.startswith("database."))

    csql(env, "CREATE DATABASE app_copy")
    data = subprocess.run(["zstd", "-dc", str(dump)], capture_output=True, check=True).stdout
    subprocess.run(["docker", "exec", "-i", "-u", "postgres", container(env), "pg_restore",
                    "-d", "app_copy", "--no-owner"], input=data, check=True)
    digest = "SELECT md5(string_agg(l::text, ',' ORDER BY id)) FROM game.log AS l"
    assert csql(env, digest, "app_copy") == csql(env, digest, "app")
    csql(env, "DROP DATABASE app_copy")


def test_data_survives_down_and_a_new_apply(deployed):
    env, _, _ = deployed
    csql(env, "CREATE TABLE kept (note text); INSERT INTO kept VALUES ('still here')", "app")
    before = docker("inspect", "-f", "{{.Id}}", container(env))
    down = subprocess.run([WRAPPER, "-f", str(compose_file(env)), "down"],
                          capture_output=True, text=True)
    assert down.returncode == 0, down.stderr
    assert docker("ps", "-aq", "-f", f"name=^{container(env)}$") == ""
    run = apply(env.path, env.state_dir, extra_env=secrets_env())
    assert any("Service" in name for name in run.changed)
    assert docker("inspect", "-f", "{{.Id}}", container(env)) != before
    assert csql(env, "SELECT note FROM kept", "app") == "still here"
    with login(env.port, "app-user", RW_PW) as conn:
        assert conn.execute("SELECT name FROM game.items").fetchall() == [("sword",)]
    assert apply(env.path, env.state_dir, extra_env=secrets_env()).changed == []


# ---------------------------------------------------------------- image changes


def test_dry_run_on_a_fresh_host_plans_the_service_and_touches_nothing(small_env):
    plan = dry(small_env.path, small_env.state_dir)
    assert any("Compose project" in name for name in plan.changed)
    assert any("Service" in name for name in plan.changed)
    assert not Path(small_env.data["compose"]["project_dir"]).exists()
    assert docker("ps", "-aq", "-f", f"name=^{container(small_env)}$") == ""
    assert docker("volume", "ls", "-q", "-f", f"name=pgstead-{small_env.name}-data") == ""


def test_a_restart_needing_setting_restarts_the_container_and_waits_for_it(small_env):
    apply(small_env.path, small_env.state_dir)
    started = csql(small_env, "SELECT pg_postmaster_start_time()")
    small_env.data["postgres"]["settings"]["shared_buffers"] = "160MB"
    small_env.write()
    run = apply(small_env.path, small_env.state_dir)
    assert [name.split(" (")[0] for name in run.changed] == [
        f"PostgreSQL settings | Parameters of 15/{small_env.name}:{small_env.port}"]
    assert csql(small_env, "SHOW shared_buffers") == "160MB"
    assert csql(small_env, "SELECT pg_postmaster_start_time()") != started
    assert csql(small_env, "SELECT count(*) FROM pg_settings WHERE pending_restart") == "0"
    assert apply(small_env.path, small_env.state_dir).changed == []



@pytest.fixture
def small_env(tmp_path, request) -> Iterator[EnvFile]:
    name = "tc_" + request.node.name.removeprefix("test_")[:16]
    env = compose_env(tmp_path, name)
    try:
        yield env
    finally:
        remove_project(env)


def build_image(tag: str, *lines: str) -> str:
    dockerfile = "\n".join([f"FROM {IMAGE}", *lines]) + "\n"
    docker("build", "--pull=false", "-q", "-t", tag, "-", stdin=dockerfile)
    return docker("image", "inspect", "-f", "{{.Id}}", tag)


@pytest.fixture
def image_tags() -> Iterator[list[str]]:
    """Tags a test builds, removed after it; request it before small_env, so the container
    using them is gone first."""
    tags: list[str] = []
    yield tags
    for tag in tags:
        docker("rmi", tag, check=False)


def test_a_moved_tag_recreates_the_container_and_keeps_the_data(image_tags, small_env):
    tag = "pgstead/test-compose:15-moving"
    image_tags.append(tag)
    docker("tag", IMAGE, tag)
    small_env.data["compose"]["image"] = tag
    small_env.write()
    apply(small_env.path, small_env.state_dir)
    csql(small_env, "CREATE TABLE kept AS SELECT 42 AS answer")
    before = docker("inspect", "-f", "{{.Id}}", container(small_env))
    # A new minor release: same major, another image behind the same tag.
    newer = build_image(tag, "LABEL org.pgstead.test-minor=2")
    run = apply(small_env.path, small_env.state_dir)
    assert any("Service" in name for name in run.changed)
    assert docker("inspect", "-f", "{{.Image}}", container(small_env)) == newer
    assert docker("inspect", "-f", "{{.Id}}", container(small_env)) != before
    assert csql(small_env, "SELECT answer FROM kept") == "42"
    assert apply(small_env.path, small_env.state_dir).changed == []


def test_a_new_major_on_existing_data_is_refused_and_nothing_changes(image_tags, small_env):
    apply(small_env.path, small_env.state_dir)
    csql(small_env, "CREATE TABLE kept AS SELECT 15 AS major")
    compose_before = compose_file(small_env).read_text()
    running = docker("inspect", "-f", "{{.Image}}", container(small_env))
    tag = "pgstead/test-compose:16-fake"
    image_tags.append(tag)
    build_image(tag, "LABEL org.pgstead.pg-major=16", "ENV PG_MAJOR=16")

    small_env.data["postgres"]["version"] = 16
    small_env.data["compose"]["image"] = tag
    small_env.write()
    plan = pyinfra("@local", "--dry", env_file=small_env.path, state_dir=small_env.state_dir)
    assert plan.returncode != 0
    assert "refusing to start PostgreSQL 16" in plan.stdout + plan.stderr
    run = pyinfra("@local", env_file=small_env.path, state_dir=small_env.state_dir)
    assert run.returncode != 0
    output = run.stdout + run.stderr
    assert "refusing to start PostgreSQL 16" in output
    assert "PostgreSQL 15 data" in output and "pg_upgrade" in output
    assert compose_file(small_env).read_text() == compose_before
    assert docker("inspect", "-f", "{{.Image}}", container(small_env)) == running
    assert csql(small_env, "SELECT major FROM kept") == "15"

    # An image whose major differs from postgres.version is refused before anything else.
    small_env.data["postgres"]["version"] = 15
    small_env.write()
    run = pyinfra("@local", env_file=small_env.path, state_dir=small_env.state_dir)
    assert run.returncode != 0
    assert "runs PostgreSQL 16 but postgres.version is 15" in run.stdout + run.stderr
    assert compose_file(small_env).read_text() == compose_before


def test_wrapper_prefers_compose_v2_and_falls_back_to_v1(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    # A docker whose `compose` subcommand is missing, as on this Debian host, and a v1 stub.
    (bin_dir / "docker").write_text(
        f'#!/bin/sh\n[ "$1" = compose ] && [ -n "$V2" ] && {{ echo "v2 $*" >>{log}; exit 0; }}\n'
        "exit 1\n")
    (bin_dir / "docker-compose").write_text(f'#!/bin/sh\necho "v1 $*" >>{log}\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    wrapper = Path(__file__).resolve().parent.parent / "pgstead/data/host/pgstead-compose"
    environ = {"PATH": str(bin_dir)}  # nothing else: the host has a real docker-compose
    subprocess.run([str(wrapper), "-f", "x.yaml", "ps"], env=environ, check=True)
    subprocess.run([str(wrapper), "-f", "x.yaml", "ps"], env={**environ, "V2": "1"}, check=True)
    assert log.read_text().splitlines() == ["v1 -f x.yaml ps", "v2 compose version",
                                            "v2 compose -f x.yaml ps"]
    (bin_dir / "docker-compose").unlink()
    missing = subprocess.run([str(wrapper), "ps"], env=environ, capture_output=True, text=True)
    assert missing.returncode == 127 and "neither" in missing.stderr

