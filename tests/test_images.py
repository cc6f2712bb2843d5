"""The local test images behave as deploys and tests expect, on a real Docker engine.

pgstead/postgres:15 must honour the official postgres image's contract so a Compose deployment
written for `postgres:15` runs unchanged; pgstead/host:bookworm must look like a fresh VM that
pyinfra reaches over ssh. `.ci/services` builds both (tests/images/build).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.hosts import (
    HOST_IMAGE,
    Host,
    docker,
    docker_answers,
    make_ssh_key,
    require_image,
    ssh,
    unique,
    wait_until,
)

POSTGRES_IMAGE = "pgstead/postgres:15"
PASSWORD = "correct horse: battery 'staple'"


pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(
        not docker_answers(),
        reason="Docker engine not running (`docker info` failed); run .ci/services",
    ),
]


def published_port(container: str, port: str) -> int:
    for line in docker("port", container, port).stdout.splitlines():
        address, _, host_port = line.rpartition(":")
        if address == "127.0.0.1":
            return int(host_port)
    raise AssertionError(f"{container}: {port} is not published on 127.0.0.1")


def accepts_tcp(container: str) -> bool:
    probe = docker("exec", container, "pg_isready", "-q", "-h", "127.0.0.1", check=False)
    return probe.returncode == 0


def start_postgres(
    name: str, secrets: Path, initdb: Path, *options: str, server_args: tuple[str, ...] = ()
) -> int:
    """Run pgstead/postgres:15 with its password in a mounted file; return the loopback port."""
    docker(
        "run", "--detach", "--name", name,
        "--publish", "127.0.0.1::5432",
        "--volume", f"{secrets}:/run/secrets:ro",
        "--volume", f"{initdb}:/docker-entrypoint-initdb.d:ro",
        "--env", "POSTGRES_PASSWORD_FILE=/run/secrets/postgres-password",
        *options,
        POSTGRES_IMAGE,
        *server_args,
    )  # fmt: skip
    wait_until(
        # TCP, since the server that runs the init scripts answers on the socket only.
        lambda: accepts_tcp(name),
        "PostgreSQL accepting TCP connections",
        name,
    )
    return published_port(name, "5432/tcp")


@pytest.fixture(scope="module")
def postgres_inputs(tmp_path_factory) -> tuple[Path, Path]:
    """A 0600 password file and an init directory with one SQL and one shell script."""
    secrets = tmp_path_factory.mktemp("secrets")
    password_file = secrets / "postgres-password"
    password_file.write_text(PASSWORD)
    password_file.chmod(0o600)

    initdb = tmp_path_factory.mktemp("initdb")
    # Read inside the container by the postgres user, not by the owner.
    initdb.chmod(0o755)
    sql_script = initdb / "10-orders.sql"
    sql_script.write_text("CREATE TABLE orders (id bigint PRIMARY KEY, note text);\n")
    sql_script.chmod(0o644)
    shell_script = initdb / "20-audit.sh"
    shell_script.write_text(
        "#!/bin/bash\nset -e\n"
        'psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" '
        "-c 'CREATE TABLE audit_log (at timestamptz)'\n"
    )
    shell_script.chmod(0o755)
    return secrets, initdb


@pytest.fixture(scope="module")
def postgres_container(postgres_inputs) -> Iterator[tuple[str, int]]:
    require_image(POSTGRES_IMAGE)
    name = unique("pgstead-test-pg")
    secrets, initdb = postgres_inputs
    try:
        port = start_postgres(
            name, secrets, initdb,
            "--env", "POSTGRES_DB=appdb",
            "--env", "POSTGRES_INITDB_ARGS=--data-checksums",
        )  # fmt: skip
        yield name, port
    finally:
        docker("rm", "--force", "--volumes", name, check=False)


def connect(
    port: int, password: str = PASSWORD, dbname: str = "appdb", user: str = "postgres"
) -> psycopg.Connection:
    return psycopg.connect(
        host="127.0.0.1", port=port, user=user, password=password, dbname=dbname,
        connect_timeout=30, autocommit=True,
    )  # fmt: skip


def test_postgres_password_file_authenticates_over_tcp(postgres_container):
    _, port = postgres_container
    with connect(port) as conn:
        method = conn.execute(
            "SELECT auth_method FROM pg_hba_file_rules WHERE type = 'host' AND address = 'all'"
        ).fetchone()
    assert method == ("scram-sha-256",)


def test_postgres_wrong_password_is_refused(postgres_container):
    _, port = postgres_container
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(port, password="not the password")


def test_postgres_creates_database_and_runs_init_scripts(postgres_container):
    _, port = postgres_container
    with connect(port) as conn:
        row = conn.execute(
            "SELECT current_database(), to_regclass('orders')::text, to_regclass('audit_log')::text"
        ).fetchone()
    assert row == ("appdb", "orders", "audit_log")


def test_postgres_initdb_args_enable_data_checksums(postgres_container):
    _, port = postgres_container
    with connect(port) as conn:
        assert conn.execute("SHOW data_checksums").fetchone() == ("on",)


def test_postgres_password_file_stays_out_of_inspect_and_server_environment(postgres_container):
    name, _ = postgres_container
    inspected = docker("inspect", name).stdout
    assert "/run/secrets/postgres-password" in inspected
    assert PASSWORD not in inspected
    environ = docker("exec", "--user", "postgres", name, "cat", "/proc/1/environ").stdout
    assert "POSTGRES_PASSWORD" not in environ
    assert PASSWORD not in environ


def test_postgres_server_runs_as_postgres_with_socket_and_all_addresses(postgres_container):
    name, port = postgres_container
    owner = docker("exec", name, "stat", "-c", "%U", "/proc/1").stdout.strip()
    assert owner == "postgres"
    with connect(port) as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings"
                " WHERE name IN ('listen_addresses', 'unix_socket_directories')"
            ).fetchall()
        )
    assert settings == {
        "listen_addresses": "*",
        "unix_socket_directories": "/var/run/postgresql",
    }


def test_postgres_image_carries_its_major_version():
    require_image(POSTGRES_IMAGE)
    label = docker(
        "image", "inspect", "-f", '{{index .Config.Labels "org.pgstead.pg-major"}}', POSTGRES_IMAGE
    ).stdout.strip()
    env = docker("image", "inspect", "-f", "{{json .Config.Env}}", POSTGRES_IMAGE).stdout
    assert label == "15"
    assert '"PG_MAJOR=15"' in env


def test_postgres_restart_keeps_data_and_does_not_reinitialise(postgres_inputs):
    require_image(POSTGRES_IMAGE)
    name = unique("pgstead-test-pg")
    secrets, initdb = postgres_inputs
    try:
        port = start_postgres(name, secrets, initdb, "--env", "POSTGRES_DB=appdb")
        with connect(port) as conn:
            conn.execute("INSERT INTO orders VALUES (1, 'kept')")
        docker("restart", name)
        wait_until(
            lambda: accepts_tcp(name),
            "PostgreSQL back after restart",
            name,
        )
        with connect(published_port(name, "5432/tcp")) as conn:
            assert conn.execute("SELECT note FROM orders").fetchall() == [("kept",)]
        logs = docker("logs", name)
        assert (logs.stdout + logs.stderr).count("initialising a new cluster") == 1
    finally:
        docker("rm", "--force", "--volumes", name, check=False)


def test_postgres_extra_arguments_reach_the_server(postgres_inputs):
    require_image(POSTGRES_IMAGE)
    name = unique("pgstead-test-pg")
    secrets, initdb = postgres_inputs
    try:
        port = start_postgres(
            name, secrets, initdb, "--env", "POSTGRES_DB=appdb", server_args=("-c", "work_mem=7MB")
        )
        with connect(port) as conn:
            assert conn.execute("SHOW work_mem").fetchone() == ("7MB",)
    finally:
        docker("rm", "--force", "--volumes", name, check=False)


def test_postgres_custom_superuser_gets_a_database_of_its_name(postgres_inputs):
    require_image(POSTGRES_IMAGE)
    name = unique("pgstead-test-pg")
    secrets, _ = postgres_inputs
    no_scripts = secrets.parent / "no-scripts"
    no_scripts.mkdir(exist_ok=True)
    try:
        port = start_postgres(name, secrets, no_scripts, "--env", "POSTGRES_USER=app")
        with connect(port, user="app", dbname="app") as conn:
            row = conn.execute(
                "SELECT current_user, current_database(), rolsuper FROM pg_roles"
                " WHERE rolname = current_user"
            ).fetchone()
        assert row == ("app", "app", True)
    finally:
        docker("rm", "--force", "--volumes", name, check=False)


def test_postgres_refuses_to_initialise_without_a_password():
    require_image(POSTGRES_IMAGE)
    name = unique("pgstead-test-pg")
    try:
        result = subprocess.run(
            ["docker", "run", "--name", name, POSTGRES_IMAGE],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode != 0
        assert "POSTGRES_PASSWORD_FILE" in result.stderr
    finally:
        docker("rm", "--force", "--volumes", name, check=False)


@pytest.fixture(scope="module")
def ssh_key(tmp_path_factory) -> Path:
    return make_ssh_key(tmp_path_factory.mktemp("ssh"))


@pytest.fixture(scope="module")
def hosts(ssh_key) -> Iterator[list[Host]]:
    """Two fresh-VM containers on a network of their own, reachable by key over ssh."""
    require_image(HOST_IMAGE)
    network = unique("pgstead-test-net")
    public_key = ssh_key.with_suffix(".pub").read_text().strip()
    names = [f"{network.replace('-net-', '-host-')}-{i}" for i in (1, 2)]
    docker("network", "create", network)
    try:
        started = []
        for name in names:
            docker(
                "run", "--detach", "--name", name, "--network", network,
                "--env", f"AUTHORIZED_KEY={public_key}",
                HOST_IMAGE,
            )  # fmt: skip
            template = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
            address = docker("inspect", "-f", template, name).stdout.strip()
            started.append(Host(name, address))
        for host in started:
            wait_until(
                lambda host=host: ssh(ssh_key, "root", host, "true").returncode == 0,
                "ssh login as root",
                host.name,
                timeout=60,
            )
        yield started
    finally:
        for name in names:
            docker("rm", "--force", "--volumes", name, check=False)
        docker("network", "rm", network, check=False)


def test_host_root_logs_in_by_key(hosts, ssh_key):
    for host in hosts:
        result = ssh(ssh_key, "root", host, "id -u")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "0"


def test_host_deploy_user_has_passwordless_sudo(hosts, ssh_key):
    for host in hosts:
        result = ssh(ssh_key, "deploy", host, "id -un && sudo -n true && sudo -n id -u")
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["deploy", "0"]


def test_hosts_differ_in_hostname_and_host_key(hosts, ssh_key):
    hostnames = {ssh(ssh_key, "root", host, "hostname").stdout.strip() for host in hosts}
    host_keys = {
        docker("exec", host.name, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[1]
        for host in hosts
    }
    assert len(hostnames) == len(hosts)
    assert len(host_keys) == len(hosts)


def test_host_is_fresh_without_postgresql_or_acl(hosts, ssh_key):
    host = hosts[0]
    assert ssh(ssh_key, "root", host, "command -v psql").returncode != 0
    assert ssh(ssh_key, "root", host, "test -e /etc/postgresql").returncode != 0
    # acl is left out on purpose: the deploy must install it for pyinfra's sudo uploads.
    assert ssh(ssh_key, "root", host, "command -v setfacl").returncode != 0
    python = ssh(ssh_key, "deploy", host, "python3 --version")
    assert python.stdout.startswith("Python 3."), python.stderr


def test_host_allows_keys_only(hosts):
    effective = docker("exec", hosts[0].name, "/usr/sbin/sshd", "-T").stdout.splitlines()
    assert "permitrootlogin without-password" in effective
    assert "passwordauthentication no" in effective
    assert "kbdinteractiveauthentication no" in effective
