"""TLS on a real cluster through real pyinfra runs: verified connections, require, key files,
idempotence, rotation by reload, client-certificate logins and a brought-along CA."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
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
from pgstead.pki.encrypted_key import encrypted_key_paths
from pgstead.pki.files import KEY_MODE, write_atomic
from tests import hosts
from tests.clusters import free_port, postmaster_start, show
from tests.pgstead_run import ROOT, apply, dry, pyinfra

PASSWORD = secrets.token_urlsafe(18)  # this test run's only; reaches pgstead through $TLS_PW
DATABASE = "tlsapp"
PASSWORD_USER = "tls_pw"
CERT_USER = "tls_cert"
_SSL_REQUEST = struct.pack("!ii", 8, 80877103)
# This part's own ports: other parts' tests may run at the same time on the shared range.
_TLS_PORTS = range(5540, 5590)


def on_own_port(env_file):
    """The shared per-test environment, moved to a port of this part's range."""
    env_file.port = free_port(_TLS_PORTS)
    env_file.data["postgres"]["port"] = env_file.port
    env_file.write()
    return env_file


@pytest.fixture
def tls_env(env_file):
    return on_own_port(env_file)


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
                           connect_timeout=30, autocommit=True, **params)


def served_certificate(port: int) -> x509.Certificate:
    """The certificate the server presents now, read with PostgreSQL's SSLRequest."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
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
    deadline = time.monotonic() + 30
    while fingerprint(served_certificate(port)) != expected:
        assert time.monotonic() < deadline, "the server did not start serving the new certificate"
        time.sleep(0.1)


def test_verify_full_accepts_localhost_and_rejects_a_name_not_in_the_certificate(tls_env):
    enable_tls(tls_env)
    deploy(tls_env)
    ca = pki(tls_env) / "ca.crt"
    with connect(tls_env, ca) as conn:
        row = conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert row.fetchone() == (True, "TLSv1.3")
    with pytest.raises(psycopg.OperationalError, match="does not match host name"):
        connect(tls_env, ca, host="notinthecert.example", hostaddr="127.0.0.1")


def test_require_refuses_tcp_without_tls(tls_env):
    enable_tls(tls_env)
    deploy(tls_env)
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        connect(tls_env, pki(tls_env) / "ca.crt", sslmode="disable")


def test_key_is_0600_and_files_belong_to_postgres_and_match_the_controller(tls_env):
    enable_tls(tls_env)
    deploy(tls_env)
    conf = config_dir(tls_env)
    postgres = pwd.getpwnam("postgres")
    for name, mode in (("server.key", 0o600), ("server.crt", 0o644), ("root.crt", 0o644)):
        st = (conf / name).stat()
        assert st.st_mode & 0o777 == mode, name
        assert (st.st_uid, st.st_gid) == (postgres.pw_uid, postgres.pw_gid), name
    crt, key = server_cert_paths(pki(tls_env), "@local")
    assert (conf / "server.crt").read_bytes() == crt.read_bytes()
    assert (conf / "server.key").read_bytes() == key.read_bytes()
    assert (conf / "root.crt").read_bytes() == (pki(tls_env) / "ca.crt").read_bytes()
    assert cert_info(crt.read_bytes()).sans == ("localhost", "127.0.0.1", "::1")


def test_second_apply_changes_nothing(tls_env):
    enable_tls(tls_env)
    first = deploy(tls_env)
    assert any("TLS" in name for name in first.changed)
    second = deploy(tls_env)
    assert second.changed == [], f"second apply changed: {second.changed}"
    plan = dry(tls_env.path, tls_env.state_dir, extra_env={"TLS_PW": PASSWORD})
    assert plan.changed == []


def test_key_never_reaches_the_output(tls_env):
    enable_tls(tls_env)
    run = apply(tls_env.path, tls_env.state_dir, "-vvv", extra_env={"TLS_PW": PASSWORD},
                json_report=False)
    _, key = server_cert_paths(pki(tls_env), "@local")
    key_body = key.read_text().splitlines()[1]
    output = run.stdout + run.stderr
    assert "PRIVATE KEY" not in output
    assert key_body not in output


def test_certificate_near_expiry_is_rotated_by_reload_without_restart(tls_env):
    enable_tls(tls_env, days=825, renew_before_days=1)
    deploy(tls_env)
    # A certificate with 5 days left, as the controller would hold one after years of use.
    crt, key = server_cert_paths(pki(tls_env), "@local")
    ca_cert = (pki(tls_env) / "ca.crt").read_bytes()
    ca_key = (pki(tls_env) / "ca.key").read_bytes()
    short_cert, short_key = issue_server_cert(ca_cert, ca_key, common_name="localhost",
                                              sans=["localhost", "127.0.0.1", "::1"], days=5)
    write_atomic(key, short_key, KEY_MODE)
    write_atomic(crt, short_cert, 0o644)
    assert deploy(tls_env).changed, "the short-lived certificate is installed"
    wait_for_served(tls_env.port, cert_info(short_cert).fingerprint_sha256)

    started = postmaster_start(tls_env.port)
    held = connect(tls_env, pki(tls_env) / "ca.crt")
    try:
        enable_tls(tls_env, days=825, renew_before_days=30)
        plan = dry(tls_env.path, tls_env.state_dir, extra_env={"TLS_PW": PASSWORD})
        assert "issued a server certificate (expires in 4 days" in plan.stderr
        assert "server.crt: new content (reload)" in plan.stderr
        assert "server.key: new content (reload)" in plan.stderr
        rotated = deploy(tls_env)
        assert any("TLS" in name for name in rotated.changed)
        new_cert = crt.read_bytes()
        assert new_cert != short_cert
        assert cert_info(new_cert).days_left() >= 824
        wait_for_served(tls_env.port, cert_info(new_cert).fingerprint_sha256)
        assert postmaster_start(tls_env.port) == started, "rotation must not restart"
        # The session opened over the old certificate carries on.
        row = held.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert row.fetchone() == (True,)
    finally:
        held.close()
    with connect(tls_env, pki(tls_env) / "ca.crt") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert deploy(tls_env).changed == []


def test_client_certificate_login_works_and_fails_without_the_certificate(tls_env):
    enable_tls(tls_env)
    deploy(tls_env)
    ca = pki(tls_env) / "ca.crt"
    clients = pki(tls_env) / "clients"
    with connect(tls_env, ca, user=CERT_USER, password=None,
                 sslcert=str(clients / f"{CERT_USER}.crt"),
                 sslkey=str(clients / f"{CERT_USER}.key")) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (CERT_USER,)
    with pytest.raises(psycopg.OperationalError, match="certificate"):
        connect(tls_env, ca, user=CERT_USER, password=None, sslcert="/nonexistent.crt",
                sslkey="/nonexistent.key")
    # Another role's certificate does not log in as this one.
    with pytest.raises(psycopg.OperationalError):
        connect(tls_env, ca, user=PASSWORD_USER, password=None,
                sslcert=str(clients / f"{CERT_USER}.crt"),
                sslkey=str(clients / f"{CERT_USER}.key"))


def test_bring_your_own_ca(tls_env, tmp_path):
    company = tmp_path / "company-ca"
    ca_cert, _ = ensure_ca(company, "company")
    enable_tls(tls_env, ca={"cert": str(company / "ca.crt"), "key": str(company / "ca.key")})
    deploy(tls_env)
    assert not (pki(tls_env) / "ca.crt").exists(), "no CA is generated beside a brought one"
    assert (config_dir(tls_env) / "root.crt").read_bytes() == ca_cert
    served = served_certificate(tls_env.port)
    served.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_cert))
    with connect(tls_env, company / "ca.crt") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert deploy(tls_env).changed == []


def test_new_server_name_reissues_the_certificate_and_it_verifies_by_that_name(tls_env):
    enable_tls(tls_env)
    deploy(tls_env)
    started = postmaster_start(tls_env.port)
    enable_tls(tls_env, server_names=["db.example.com"])
    assert any("TLS" in name for name in deploy(tls_env).changed)
    crt, _ = server_cert_paths(pki(tls_env), "@local")
    wait_for_served(tls_env.port, cert_info(crt.read_bytes()).fingerprint_sha256)
    with connect(tls_env, pki(tls_env) / "ca.crt", host="db.example.com",
                 hostaddr="127.0.0.1") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert postmaster_start(tls_env.port) == started


def test_switching_to_your_own_ca_reissues_and_installs_its_root(tls_env, tmp_path):
    enable_tls(tls_env)
    deploy(tls_env)
    company = tmp_path / "company-ca"
    ca_cert, _ = ensure_ca(company, "company")
    enable_tls(tls_env, ca={"cert": str(company / "ca.crt"), "key": str(company / "ca.key")})
    run = deploy(tls_env)
    assert "signed by another CA" in run.stderr
    assert (config_dir(tls_env) / "root.crt").read_bytes() == ca_cert
    crt, _ = server_cert_paths(pki(tls_env), "@local")
    wait_for_served(tls_env.port, cert_info(crt.read_bytes()).fingerprint_sha256)
    with connect(tls_env, company / "ca.crt") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    # Client certificates follow the CA too: the cert user logs in with a re-issued one.
    clients = pki(tls_env) / "clients"
    with connect(tls_env, company / "ca.crt", user=CERT_USER, password=None,
                 sslcert=str(clients / f"{CERT_USER}.crt"),
                 sslkey=str(clients / f"{CERT_USER}.key")) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (CERT_USER,)


def test_ready_host_certificate_is_installed_as_given_with_a_warning(tls_env, tmp_path):
    company = tmp_path / "company-ca"
    ca_cert, ca_key = ensure_ca(company, "company")
    # Issued for another name: pgstead cannot re-issue it, so it says so and installs it.
    cert, key = issue_server_cert(ca_cert, ca_key, common_name="db.example.com",
                                  sans=["db.example.com"], days=90)
    (tmp_path / "db.crt").write_bytes(cert)
    key_path = tmp_path / "db.key"
    key_path.write_bytes(key)
    os.chmod(key_path, 0o600)
    enable_tls(tls_env, ca={"cert": str(company / "ca.crt"), "key": str(company / "ca.key")},
               host_certs={"@local": {"cert": str(tmp_path / "db.crt"), "key": str(key_path)}})
    run = deploy(tls_env)
    assert "SANs differ: missing localhost" in run.stderr
    assert (config_dir(tls_env) / "server.crt").read_bytes() == cert
    assert fingerprint(served_certificate(tls_env.port)) == cert_info(cert).fingerprint_sha256
    assert deploy(tls_env).changed == []


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
        tls_env, vm, tmp_path):
    address, key = vm
    enable_tls(tls_env, server_names=["db.example.com"])
    tls_env.data["postgres"]["listen_addresses"] = ["*"]
    for rule in tls_env.data["hba"]:
        rule["address"] = "0.0.0.0/0"
    tls_env.write()
    inventory = tmp_path / "vm.py"
    inventory.write_text(
        f"hosts = [('db-vm', {{'ssh_hostname': {address!r}, 'ssh_user': 'deploy',\n"
        f"    'ssh_key': {str(key)!r}, '_sudo': True, 'ssh_known_hosts_file': '/dev/null',\n"
        f"    'ssh_strict_host_key_checking': 'off', 'pgstead_env': {str(tls_env.path)!r}}})]\n"
    )
    first = pyinfra(str(inventory), state_dir=tls_env.state_dir,
                    extra_env={"TLS_PW": PASSWORD})
    assert first.returncode == 0, first.stderr[-6000:]
    crt, _ = server_cert_paths(pki(tls_env), "db-vm")
    # Listening on "*" includes the loopback interface, so the localhost names come too.
    assert cert_info(crt.read_bytes()).sans == (
        "db-vm", address, "localhost", "127.0.0.1", "::1", "db.example.com")
    ca = pki(tls_env) / "ca.crt"
    with connect(tls_env, ca, host=address) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (PASSWORD_USER,)
    with pytest.raises(psycopg.OperationalError, match="does not match host name"):
        connect(tls_env, ca, host="db-other.example.com", hostaddr=address)
    second = pyinfra(str(inventory), state_dir=tls_env.state_dir,
                     extra_env={"TLS_PW": PASSWORD})
    assert second.returncode == 0, second.stderr[-6000:]
    assert second.changed == [], f"second apply changed: {second.changed}"
    # `pgstead certs --inventory` reads the installed certificate over the same ssh settings.
    listing = subprocess.run(
        [sys.executable, "-m", "pgstead.cli", "certs", str(tls_env.path),
         "--inventory", str(inventory)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PGSTEAD_STATE_DIR": str(tls_env.state_dir)})
    assert "host db-vm:" in listing.stdout
    assert "installed:   same certificate" in listing.stdout, listing.stdout + listing.stderr


def test_a_loosened_key_is_put_back_to_0600_postgres(tls_env):
    enable_tls(tls_env)
    deploy(tls_env)
    key = config_dir(tls_env) / "server.key"
    os.chown(key, 0, 0)
    key.chmod(0o644)
    plan = dry(tls_env.path, tls_env.state_dir, extra_env={"TLS_PW": PASSWORD})
    assert f"{key}: owner or mode" in plan.stderr
    assert "server.crt" not in plan.stderr, "only the key's ownership differs"
    assert any("TLS" in name for name in deploy(tls_env).changed)
    postgres = pwd.getpwnam("postgres")
    st = key.stat()
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o600, postgres.pw_uid, postgres.pw_gid)
    assert deploy(tls_env).changed == []


def test_strict_key_is_encrypted_at_rest_and_a_renewal_reloads_it(tls_env):
    enable_tls(tls_env)
    tls_env.data["hardening"] = {"level": "strict", "pgaudit": {"enabled": False}}
    tls_env.write()
    passphrase_file = Path(f"/etc/pgstead/tls/15-{tls_env.name}.passphrase")
    log_dir = Path(f"/var/log/postgresql/15-{tls_env.name}")
    try:
        first = deploy(tls_env)
        assert deploy(tls_env).changed == []
        key = config_dir(tls_env) / "server.key"
        encrypted = key.read_bytes()
        assert encrypted.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        stored_passphrase, _ = encrypted_key_paths(pki(tls_env), "@local")
        passphrase = stored_passphrase.read_text().strip()
        assert passphrase_file.read_text().strip() == passphrase
        st = passphrase_file.stat()
        assert (st.st_mode & 0o777, st.st_uid) == (0o440, 0)
        assert passphrase_file.parent.stat().st_mode & 0o777 == 0o750
        ca = pki(tls_env) / "ca.crt"
        with connect(tls_env, ca) as conn:
            version = conn.execute("SELECT version FROM pg_stat_ssl "
                                   "WHERE pid = pg_backend_pid()").fetchone()[0]
            assert version == "TLSv1.3"
            settings = conn.execute("SELECT string_agg(setting, ' ') FROM pg_settings "
                                    "WHERE name LIKE 'ssl%'").fetchone()[0]
        auto_conf = Path(show(tls_env.port, "data_directory")) / "postgresql.auto.conf"
        for where in (first.stdout + first.stderr, settings or "", auto_conf.read_text()):
            assert passphrase not in where

        # Renewal: a new certificate and key, encrypted under the same passphrase, served
        # after a reload that runs ssl_passphrase_command again; no restart.
        started = postmaster_start(tls_env.port)
        crt, _ = server_cert_paths(pki(tls_env), "@local")
        crt.unlink()
        rotated = deploy(tls_env)
        assert any("TLS" in name for name in rotated.changed)
        assert key.read_bytes() != encrypted
        assert key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        assert passphrase_file.read_text().strip() == passphrase
        wait_for_served(tls_env.port, cert_info(crt.read_bytes()).fingerprint_sha256)
        assert postmaster_start(tls_env.port) == started, "rotation must not restart"
        with connect(tls_env, ca) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        logged = "".join(p.read_text(errors="replace") for p in log_dir.iterdir())
        assert "private key" not in logged and passphrase not in logged
        assert deploy(tls_env).changed == []
    finally:
        passphrase_file.unlink(missing_ok=True)
        shutil.rmtree(log_dir, ignore_errors=True)


def test_a_running_baseline_server_switched_to_strict_serves_its_encrypted_key(tls_env):
    enable_tls(tls_env)
    deploy(tls_env)
    before = served_certificate(tls_env.port)
    tls_env.data["hardening"] = {"level": "strict", "pgaudit": {"enabled": False}}
    tls_env.write()
    passphrase_file = Path(f"/etc/pgstead/tls/15-{tls_env.name}.passphrase")
    try:
        assert deploy(tls_env).changed
        assert (config_dir(tls_env) / "server.key").read_bytes().startswith(
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        # The same certificate, now served from the encrypted key after the switch.
        assert fingerprint(served_certificate(tls_env.port)) == fingerprint(before)
        with connect(tls_env, pki(tls_env) / "ca.crt") as conn:
            assert conn.execute("SELECT version FROM pg_stat_ssl "
                                "WHERE pid = pg_backend_pid()").fetchone() == ("TLSv1.3",)
        assert deploy(tls_env).changed == []
        # A reload alone (no restart) decrypts it again without complaint: the command
        # supports reload (else the server would log that the key cannot be reloaded).
        log_dir = Path(f"/var/log/postgresql/15-{tls_env.name}")

        def logged() -> str:
            return "".join(p.read_text(errors="replace") for p in sorted(log_dir.iterdir()))

        seen, started = logged(), postmaster_start(tls_env.port)
        subprocess.run(["pg_ctlcluster", "15", tls_env.name, "reload"], check=True)
        deadline = time.monotonic() + 30
        while logged().count("received SIGHUP") <= seen.count("received SIGHUP"):
            assert time.monotonic() < deadline, "the reload never reached the server log"
            time.sleep(0.2)
        with connect(tls_env, pki(tls_env) / "ca.crt") as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        after = logged()[len(seen):]
        assert "private key" not in after and "passphrase" not in after, after
        assert postmaster_start(tls_env.port) == started
    finally:
        passphrase_file.unlink(missing_ok=True)
        shutil.rmtree(f"/var/log/postgresql/15-{tls_env.name}", ignore_errors=True)
