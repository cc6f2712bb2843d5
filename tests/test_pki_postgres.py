"""Issued certificates in a real PostgreSQL 15: verify-full from libpq, and `cert` logins."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from pgstead.pki import ensure_ca, ensure_client_cert, ensure_server_cert, server_sans
from tests.clusters import fixed_port

VERSION = 15
CLUSTER = "pki_t"
PORT = 5621
CONF_DIR = Path(f"/etc/postgresql/{VERSION}/{CLUSTER}")
PSQL = f"/usr/lib/postgresql/{VERSION}/bin/psql"

pytestmark = pytest.mark.skipif(
    shutil.which("pg_createcluster") is None, reason="needs Debian's postgresql-common"
)


def psql(script: str) -> str:
    """Run SQL as the postgres superuser over the socket; the script goes on stdin."""
    proc = subprocess.run(
        ["runuser", "-u", "postgres", "--", PSQL, "-X", "-A", "-t", "-q",
         "-v", "ON_ERROR_STOP=1", "-p", str(PORT), "-d", "postgres"],
        input=script, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return proc.stdout.strip()


def drop_cluster() -> None:
    subprocess.run(
        ["pg_dropcluster", "--stop", str(VERSION), CLUSTER], capture_output=True, check=False
    )


def install_for_postgres(path: Path, data: bytes, mode: int) -> None:
    postgres = pwd.getpwnam("postgres")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        os.fchown(f.fileno(), postgres.pw_uid, postgres.pw_gid)
        f.write(data)


@dataclass(frozen=True)
class TlsCluster:
    ca_file: Path
    password_user: str
    password: str
    cert_user: str
    client_cert: Path
    client_key: Path

    def connect(self, **params: object) -> psycopg.Connection:
        return psycopg.connect(port=PORT, dbname="postgres", connect_timeout=30, **params)

    def connect_verify_full(self, host: str) -> psycopg.Connection:
        """Log in with the password user, checking the server certificate against `host`."""
        return self.connect(host=host, hostaddr="127.0.0.1", user=self.password_user,
                            password=self.password, sslmode="verify-full",
                            sslrootcert=str(self.ca_file))


def wait_for_reload(setting: str, expected: str) -> None:
    # pg_reload_conf() only signals the postmaster; new sessions see the change once it has run.
    deadline = time.monotonic() + 30
    while psql(f"SHOW {setting}") != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"{setting} did not become {expected} after reload")
        time.sleep(0.1)


@pytest.fixture(scope="module", autouse=True)
def _port_held():
    """PORT and CLUSTER are fixed: another suite on this machine waits until this module ends."""
    with fixed_port(PORT):
        yield


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsCluster]:
    drop_cluster()  # a cluster left by an interrupted run
    subprocess.run(
        ["pg_createcluster", str(VERSION), CLUSTER, "--port", str(PORT), "--start"],
        capture_output=True, check=True,
    )  # fmt: skip
    try:
        pki_dir = tmp_path_factory.mktemp("state") / "pki"
        ca_cert, ca_key = ensure_ca(pki_dir, "pgtest")
        sans = server_sans("db1.example.com", "127.0.0.1", ["localhost"], ["db.example.com"])
        cert, key, _ = ensure_server_cert(
            pki_dir, "db1.example.com", ca_cert, ca_key, sans=sans, days=30, renew_before_days=7
        )
        install_for_postgres(CONF_DIR / "server.crt", cert, 0o644)
        install_for_postgres(CONF_DIR / "server.key", key, 0o600)
        install_for_postgres(CONF_DIR / "root.crt", ca_cert, 0o644)
        client_cert, client_key = ensure_client_cert(
            pki_dir, "pki_app", ca_cert, ca_key, days=30, renew_before_days=7
        )

        hba = CONF_DIR / "pg_hba.conf"
        hba.write_text(
            "local all postgres peer\n"
            "hostssl all pki_app 127.0.0.1/32 cert\n"
            "hostssl all pki_app ::1/128 cert\n"
            "hostssl all pki_other 127.0.0.1/32 cert\n"
            "hostssl all all 127.0.0.1/32 scram-sha-256\n"
            "hostssl all all ::1/128 scram-sha-256\n"
        )
        password = secrets.token_urlsafe(18)
        psql(
            f"CREATE ROLE pki_pw LOGIN PASSWORD '{password}';\n"
            "CREATE ROLE pki_app LOGIN;\n"
            "CREATE ROLE pki_other LOGIN;\n"
            "ALTER SYSTEM SET ssl = on;\n"
            f"ALTER SYSTEM SET ssl_cert_file = '{CONF_DIR / 'server.crt'}';\n"
            f"ALTER SYSTEM SET ssl_key_file = '{CONF_DIR / 'server.key'}';\n"
            f"ALTER SYSTEM SET ssl_ca_file = '{CONF_DIR / 'root.crt'}';\n"
            "ALTER SYSTEM SET ssl_min_protocol_version = 'TLSv1.2';\n"
            "SELECT pg_reload_conf();\n"
        )
        wait_for_reload("ssl_ca_file", str(CONF_DIR / "root.crt"))
        assert psql("SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL") == "0"
        ca_file = pki_dir / "ca.crt"
        yield TlsCluster(ca_file, "pki_pw", password, "pki_app", client_cert, client_key)
    finally:
        drop_cluster()


def ssl_of_session(conn: psycopg.Connection) -> tuple[bool, str]:
    row = conn.execute(
        "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def test_verify_full_succeeds_for_localhost(cluster: TlsCluster) -> None:
    with cluster.connect_verify_full("localhost") as conn:
        uses_ssl, version = ssl_of_session(conn)

    assert uses_ssl
    assert version in ("TLSv1.2", "TLSv1.3")


def test_verify_full_succeeds_for_an_ip_san_and_a_server_name(cluster: TlsCluster) -> None:
    for name in ("127.0.0.1", "db.example.com"):
        with cluster.connect_verify_full(name) as conn:
            assert ssl_of_session(conn)[0]


def test_verify_full_fails_for_an_address_not_in_the_sans(cluster: TlsCluster) -> None:
    with pytest.raises(psycopg.OperationalError, match='does not match host name "127.0.0.2"'):
        cluster.connect_verify_full("127.0.0.2")


def test_client_certificate_logs_in_without_a_password(cluster: TlsCluster) -> None:
    with cluster.connect(
        host="localhost",
        hostaddr="127.0.0.1",
        user=cluster.cert_user,
        sslmode="verify-full",
        sslrootcert=str(cluster.ca_file),
        sslcert=str(cluster.client_cert),
        sslkey=str(cluster.client_key),
    ) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (cluster.cert_user,)
        client_dn = conn.execute(
            "SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone()
    assert client_dn == (f"/CN={cluster.cert_user}",)


def test_cert_login_without_a_client_certificate_is_refused(cluster: TlsCluster) -> None:
    with pytest.raises(psycopg.OperationalError, match="requires a valid client certificate"):
        cluster.connect(
            host="localhost",
            hostaddr="127.0.0.1",
            user=cluster.cert_user,
            sslmode="verify-full",
            sslrootcert=str(cluster.ca_file),
        )


def test_client_certificate_of_one_role_does_not_log_in_another(cluster: TlsCluster) -> None:
    with pytest.raises(psycopg.OperationalError, match="certificate authentication failed"):
        cluster.connect(
            host="localhost",
            hostaddr="127.0.0.1",
            user="pki_other",
            sslmode="verify-full",
            sslrootcert=str(cluster.ca_file),
            sslcert=str(cluster.client_cert),
            sslkey=str(cluster.client_key),
        )
