"""TLS on a real cluster through real pyinfra runs: verified connections, require, key files,
idempotence, rotation by reload, client-certificate logins and a brought-along CA."""

from __future__ import annotations

import os
import pwd
import secrets
import socket
import ssl
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from pgstead.pki import cert_info, ensure_ca, issue_server_cert, server_cert_paths
from pgstead.pki.files import KEY_MODE, write_atomic
from tests import hosts
from tests.clusters import postmaster_start
from tests.pgstead_run import ROOT, apply, dry, pyinfra

PASSWORD = secrets.token_urlsafe(18)  # this test run's only; reaches pgstead through $TLS_PW
DATABASE = "tlsapp"
PASSWORD_USER = "tls_pw"
CERT_USER = "tls_cert"
_SSL_REQUEST = struct.pack("!ii", 8, 80877103)


def enable_tls(env_file, **tls: object) -> None:
    """TLS required, a database, a password user and a certificate user, reachable over
    hostssl on 127.0.0.1 only."""
    env_file.data["tls"] = {"enabled": True, "require": True, "ca": "generate", **tls}
    env_file.data["databases"] = [{"name": DATABASE, "owner": PASSWORD_USER}]
    env_file.data["users"] = [
        {"name": PASSWORD_USER, "password": {"env": "TLS_PW"}, "role": "owner",
         "database": DATABASE},
        {"name": CERT_USER, "auth": "cert", "role": "readonly", "database": DATABASE},
    ]
    env_file.data["hba"] = [
        {"type": "hostssl", "database": DATABASE, "user": PASSWORD_USER,
         "address": "127.0.0.1/32", "method": "scram-sha-256"},
        {"type": "hostssl", "database": DATABASE, "user": CERT_USER,
         "address": "127.0.0.1/32", "method": "cert"},
    ]
    env_file.write()


def deploy(env_file):
    return apply(env_file.path, env_file.state_dir, extra_env={"TLS_PW": PASSWORD})


def pki(env_file) -> Path:
    return env_file.state_dir / env_file.name / "pki"


def config_dir(env_file) -> Path:
    return Path(f"/etc/postgresql/15/{env_file.name}")


def connect(env_file, ca: Path, **params: object) -> psycopg.Connection:
    params = {"host": "localhost", "user": PASSWORD_USER, "password": PASSWORD,
              "sslmode": "verify-full", **params}
    return psycopg.connect(port=env_file.port, dbname=DATABASE, sslrootcert=str(ca),
                           connect_timeout=5, autocommit=True, **params)


def served_certificate(port: int) -> x509.Certificate:
    """The certificate the server presents now, read with PostgreSQL's SSLRequest."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(_SSL_REQUEST)
        assert raw.recv(1) == b"S", "the server refused TLS"
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with context.wrap_socket(raw) as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def wait_for_served(port: int, expected: str) -> None:
    # pg_reload_conf() only signals the postmaster; the new context follows shortly.
    deadline = time.monotonic() + 10
    while fingerprint(served_certificate(port)) != expected:
        assert time.monotonic() < deadline, "the server did not start serving the new certificate"
        time.sleep(0.1)


def test_verify_full_accepts_localhost_and_rejects_a_name_not_in_the_certificate(env_file):
    enable_tls(env_file)
    deploy(env_file)
    ca = pki(env_file) / "ca.crt"
    with connect(env_file, ca) as conn:
        row = conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert row.fetchone() == (True, "TLSv1.3")
    with pytest.raises(psycopg.OperationalError, match="does not match host name"):
        connect(env_file, ca, host="notinthecert.example", hostaddr="127.0.0.1")


def test_require_refuses_tcp_without_tls(env_file):
    enable_tls(env_file)
    deploy(env_file)
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        connect(env_file, pki(env_file) / "ca.crt", sslmode="disable")


def test_key_is_0600_and_files_belong_to_postgres_and_match_the_controller(env_file):
    enable_tls(env_file)
    deploy(env_file)
    conf = config_dir(env_file)
    postgres = pwd.getpwnam("postgres")
    for name, mode in (("server.key", 0o600), ("server.crt", 0o644), ("root.crt", 0o644)):
        st = (conf / name).stat()
        assert st.st_mode & 0o777 == mode, name
        assert (st.st_uid, st.st_gid) == (postgres.pw_uid, postgres.pw_gid), name
    crt, key = server_cert_paths(pki(env_file), "@local")
    assert (conf / "server.crt").read_bytes() == crt.read_bytes()
    assert (conf / "server.key").read_bytes() == key.read_bytes()
    assert (conf / "root.crt").read_bytes() == (pki(env_file) / "ca.crt").read_bytes()
    assert cert_info(crt.read_bytes()).sans == ("localhost", "127.0.0.1", "::1")


def test_second_apply_changes_nothing(env_file):
    enable_tls(env_file)
    first = deploy(env_file)
    assert any("TLS" in name for name in first.changed)
    second = deploy(env_file)
    assert second.changed == [], f"second apply changed: {second.changed}"
    plan = dry(env_file.path, env_file.state_dir, extra_env={"TLS_PW": PASSWORD})
    assert plan.changed == []


def test_key_never_reaches_the_output(env_file):
    enable_tls(env_file)
    run = apply(env_file.path, env_file.state_dir, "-vvv", extra_env={"TLS_PW": PASSWORD},
                json_report=False)
    _, key = server_cert_paths(pki(env_file), "@local")
    key_body = key.read_text().splitlines()[1]
    output = run.stdout + run.stderr
    assert "PRIVATE KEY" not in output
    assert key_body not in output


def test_certificate_near_expiry_is_rotated_by_reload_without_restart(env_file):
    enable_tls(env_file, days=825, renew_before_days=1)
    deploy(env_file)
    # A certificate with 5 days left, as the controller would hold one after years of use.
    crt, key = server_cert_paths(pki(env_file), "@local")
    ca_cert = (pki(env_file) / "ca.crt").read_bytes()
    ca_key = (pki(env_file) / "ca.key").read_bytes()
    short_cert, short_key = issue_server_cert(ca_cert, ca_key, common_name="localhost",
                                              sans=["localhost", "127.0.0.1", "::1"], days=5)
    write_atomic(key, short_key, KEY_MODE)
    write_atomic(crt, short_cert, 0o644)
    assert deploy(env_file).changed, "the short-lived certificate is installed"
    wait_for_served(env_file.port, cert_info(short_cert).fingerprint_sha256)

    started = postmaster_start(env_file.port)
    held = connect(env_file, pki(env_file) / "ca.crt")
    try:
        enable_tls(env_file, days=825, renew_before_days=30)
        rotated = deploy(env_file)
        assert any("TLS" in name for name in rotated.changed)
        new_cert = crt.read_bytes()
        assert new_cert != short_cert
        assert cert_info(new_cert).days_left() >= 824
        wait_for_served(env_file.port, cert_info(new_cert).fingerprint_sha256)
        assert postmaster_start(env_file.port) == started, "rotation must not restart"
        # The session opened over the old certificate carries on.
        row = held.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert row.fetchone() == (True,)
    finally:
        held.close()
    with connect(env_file, pki(env_file) / "ca.crt") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert deploy(env_file).changed == []


def test_client_certificate_login_works_and_fails_without_the_certificate(env_file):
    enable_tls(env_file)
    deploy(env_file)
    ca = pki(env_file) / "ca.crt"
    clients = pki(env_file) / "clients"
    with connect(env_file, ca, user=CERT_USER, password=None,
                 sslcert=str(clients / f"{CERT_USER}.crt"),
                 sslkey=str(clients / f"{CERT_USER}.key")) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (CERT_USER,)
    with pytest.raises(psycopg.OperationalError, match="certificate"):
        connect(env_file, ca, user=CERT_USER, password=None, sslcert="/nonexistent.crt",
                sslkey="/nonexistent.key")
    # Another role's certificate does not log in as this one.
    with pytest.raises(psycopg.OperationalError):
        connect(env_file, ca, user=PASSWORD_USER, password=None,
                sslcert=str(clients / f"{CERT_USER}.crt"),
                sslkey=str(clients / f"{CERT_USER}.key"))


def test_bring_your_own_ca(env_file, tmp_path):
    company = tmp_path / "company-ca"
    ca_cert, _ = ensure_ca(company, "company")
    enable_tls(env_file, ca={"cert": str(company / "ca.crt"), "key": str(company / "ca.key")})
    deploy(env_file)
    assert not (pki(env_file) / "ca.crt").exists(), "no CA is generated beside a brought one"
    assert (config_dir(env_file) / "root.crt").read_bytes() == ca_cert
    served = served_certificate(env_file.port)
    served.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_cert))
    with connect(env_file, company / "ca.crt") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert deploy(env_file).changed == []


def test_new_server_name_reissues_the_certificate_and_it_verifies_by_that_name(env_file):
    enable_tls(env_file)
    deploy(env_file)
    started = postmaster_start(env_file.port)
    enable_tls(env_file, server_names=["db.example.com"])
    assert any("TLS" in name for name in deploy(env_file).changed)
    crt, _ = server_cert_paths(pki(env_file), "@local")
    wait_for_served(env_file.port, cert_info(crt.read_bytes()).fingerprint_sha256)
    with connect(env_file, pki(env_file) / "ca.crt", host="db.example.com",
                 hostaddr="127.0.0.1") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert postmaster_start(env_file.port) == started


def test_switching_to_your_own_ca_reissues_and_installs_its_root(env_file, tmp_path):
    enable_tls(env_file)
    deploy(env_file)
    company = tmp_path / "company-ca"
    ca_cert, _ = ensure_ca(company, "company")
    enable_tls(env_file, ca={"cert": str(company / "ca.crt"), "key": str(company / "ca.key")})
    run = deploy(env_file)
    assert "signed by another CA" in run.stderr
    assert (config_dir(env_file) / "root.crt").read_bytes() == ca_cert
    crt, _ = server_cert_paths(pki(env_file), "@local")
    wait_for_served(env_file.port, cert_info(crt.read_bytes()).fingerprint_sha256)
    with connect(env_file, company / "ca.crt") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    # Client certificates follow the CA too: the cert user logs in with a re-issued one.
    clients = pki(env_file) / "clients"
    with connect(env_file, company / "ca.crt", user=CERT_USER, password=None,
                 sslcert=str(clients / f"{CERT_USER}.crt"),
                 sslkey=str(clients / f"{CERT_USER}.key")) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (CERT_USER,)


def test_ready_host_certificate_is_installed_as_given_with_a_warning(env_file, tmp_path):
    company = tmp_path / "company-ca"
    ca_cert, ca_key = ensure_ca(company, "company")
    # Issued for another name: pgstead cannot re-issue it, so it says so and installs it.
    cert, key = issue_server_cert(ca_cert, ca_key, common_name="db.example.com",
                                  sans=["db.example.com"], days=90)
    (tmp_path / "db.crt").write_bytes(cert)
    key_path = tmp_path / "db.key"
    key_path.write_bytes(key)
    os.chmod(key_path, 0o600)
    enable_tls(env_file, ca={"cert": str(company / "ca.crt"), "key": str(company / "ca.key")},
               host_certs={"@local": {"cert": str(tmp_path / "db.crt"), "key": str(key_path)}})
    run = deploy(env_file)
    assert "SANs differ: missing localhost" in run.stderr
    assert (config_dir(env_file) / "server.crt").read_bytes() == cert
    assert fingerprint(served_certificate(env_file.port)) == cert_info(cert).fingerprint_sha256
    assert deploy(env_file).changed == []


@pytest.fixture
def vm(tmp_path) -> Iterator[tuple[str, Path]]:
    """A fresh-VM container (pgstead/host) on a network of its own: (address, ssh key)."""
    if not hosts.docker_answers():
        pytest.skip("Docker engine not running; run .ci/services")
    hosts.require_image(hosts.HOST_IMAGE)
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    network, name = hosts.unique("pgstead-tls-net"), hosts.unique("pgstead-tls-vm")
    hosts.docker("network", "create", network)
    try:
        hosts.docker("run", "--detach", "--name", name, "--hostname", "db-vm",
                     "--network", network, "--env",
                     f"AUTHORIZED_KEY={key.with_suffix('.pub').read_text().strip()}",
                     hosts.HOST_IMAGE)
        template = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
        address = hosts.docker("inspect", "-f", template, name).stdout.strip()
        target = hosts.Host(name, address)
        hosts.wait_until(lambda: hosts.ssh(key, "deploy", target, "true").returncode == 0,
                         "ssh login as deploy", name, timeout=60)
        yield address, key
    finally:
        hosts.docker("rm", "--force", "--volumes", name, check=False)
        hosts.docker("network", "rm", network, check=False)


@pytest.mark.docker
@pytest.mark.slow
def test_ssh_host_with_sudo_gets_its_address_in_the_certificate_and_verifies(
        env_file, vm, tmp_path):
    address, key = vm
    enable_tls(env_file, server_names=["db.example.com"])
    env_file.data["postgres"]["listen_addresses"] = ["*"]
    for rule in env_file.data["hba"]:
        rule["address"] = "0.0.0.0/0"
    env_file.write()
    inventory = tmp_path / "vm.py"
    inventory.write_text(
        f"hosts = [('db-vm', {{'ssh_hostname': {address!r}, 'ssh_user': 'deploy',\n"
        f"    'ssh_key': {str(key)!r}, '_sudo': True, 'ssh_known_hosts_file': '/dev/null',\n"
        f"    'ssh_strict_host_key_checking': 'off', 'pgstead_env': {str(env_file.path)!r}}})]\n"
    )
    first = pyinfra(str(inventory), state_dir=env_file.state_dir,
                    extra_env={"TLS_PW": PASSWORD})
    assert first.returncode == 0, first.stderr[-6000:]
    crt, _ = server_cert_paths(pki(env_file), "db-vm")
    # Listening on "*" includes the loopback interface, so the localhost names come too.
    assert cert_info(crt.read_bytes()).sans == (
        "db-vm", address, "localhost", "127.0.0.1", "::1", "db.example.com")
    ca = pki(env_file) / "ca.crt"
    with connect(env_file, ca, host=address) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (PASSWORD_USER,)
    with pytest.raises(psycopg.OperationalError, match="does not match host name"):
        connect(env_file, ca, host="db-other.example.com", hostaddr=address)
    second = pyinfra(str(inventory), state_dir=env_file.state_dir,
                     extra_env={"TLS_PW": PASSWORD})
    assert second.returncode == 0, second.stderr[-6000:]
    assert second.changed == [], f"second apply changed: {second.changed}"
    # `pgstead certs --inventory` reads the installed certificate over the same ssh settings.
    listing = subprocess.run(
        [sys.executable, "-m", "pgstead.cli", "certs", str(env_file.path),
         "--inventory", str(inventory)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PGSTEAD_STATE_DIR": str(env_file.state_dir)})
    assert "host db-vm:" in listing.stdout
    assert "installed:   same certificate" in listing.stdout, listing.stdout + listing.stderr
