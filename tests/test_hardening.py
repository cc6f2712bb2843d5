"""Hardened by default, on a real cluster: every control is read back from the live server and
the files (never from our own config); level off leaves the distribution's defaults; an
opted-out control is left alone; switching hardening on costs one restart."""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import socket
import ssl
import stat
import struct
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from pgstead.desired import hardening
from tests.clusters import postmaster_start, show, sql
from tests.pgstead_run import apply, dry

PASSWORD = secrets.token_urlsafe(18)
DATABASE = "hardapp"
OWNER = "hard_owner"
READER = "hard_ro"
_SSL_REQUEST = struct.pack("!ii", 8, 80877103)
# Parameters the hardening controls set; `off` must leave them where the distribution has them.
HARDENING_PARAMETERS = (
    "unix_socket_permissions", "log_directory", "log_file_mode", "logging_collector",
    "log_disconnections", "log_line_prefix", "log_statement", "log_error_verbosity",
    "log_timezone", "log_replication_commands", "log_rotation_age", "log_rotation_size",
    "log_truncate_on_rotation", "shared_preload_libraries", "authentication_timeout",
    "ssl_min_protocol_version", "ssl_ciphers", "ssl_prefer_server_ciphers",
    "ignore_system_indexes", "jit_debugging_support", "jit_profiling_support",
    "post_auth_delay",
)


@pytest.fixture(autouse=True)
def _remove_log_directory(env_file):
    # pg_dropcluster leaves a log directory outside the cluster's own directories alone, and
    # the passphrase file of a strict server.
    yield
    shutil.rmtree(f"/var/log/postgresql/15-{env_file.name}", ignore_errors=True)
    Path(f"/etc/pgstead/tls/15-{env_file.name}.passphrase").unlink(missing_ok=True)


def declare_app(env_file, tls: bool = True) -> None:
    """A database, an owner with a password (no connection_limit: derived) and a reader with a
    limit; a hostssl rule for `all` users, which must still not admit postgres."""
    if tls:
        env_file.data["tls"] = {"enabled": True, "require": True}
    env_file.data["databases"] = [{"name": DATABASE, "owner": OWNER}]
    env_file.data["users"] = [
        {"name": OWNER, "password": {"env": "HARD_PW"}, "role": "owner", "database": DATABASE},
        {"name": READER, "password": {"generate": True}, "role": "readonly",
         "database": DATABASE, "connection_limit": 4},
    ]
    kind = "hostssl" if tls else "host"
    env_file.data["hba"] = [
        {"type": kind, "database": "all", "user": "all", "address": "127.0.0.1/32",
         "method": "scram-sha-256"},
    ]
    env_file.write()


def deploy(env_file):
    return apply(env_file.path, env_file.state_dir, extra_env={"HARD_PW": PASSWORD})


def deploy_twice(env_file):
    first = deploy(env_file)
    second = deploy(env_file)
    assert second.changed == [], f"second apply changed: {second.changed}"
    return first


def connect(env_file, user: str = OWNER, password: str = PASSWORD, **params):
    params = {"sslmode": "require", "dbname": DATABASE, **params}
    return psycopg.connect(host="127.0.0.1", port=env_file.port, user=user, password=password,
                           connect_timeout=30, autocommit=True, **params)


def data_directory(env_file) -> Path:
    return Path(show(env_file.port, "data_directory"))


def postmaster_umask(env_file) -> str:
    pid = (data_directory(env_file) / "postmaster.pid").read_text().splitlines()[0]
    status = Path(f"/proc/{pid}/status").read_text()
    return re.search(r"^Umask:\s*(\d+)", status, re.M).group(1)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def log_files(env_file) -> list[Path]:
    return sorted(p for p in Path(show(env_file.port, "log_directory")).iterdir() if p.is_file())


def wait_for_log(env_file, pattern: str) -> str:
    deadline = time.monotonic() + 30
    while True:
        text = "".join(p.read_text(errors="replace") for p in log_files(env_file))
        if re.search(pattern, text):
            return text
        assert time.monotonic() < deadline, f"{pattern!r} never reached the server log"
        time.sleep(0.2)


def handshake(port: int, context: ssl.SSLContext) -> str:
    """The TLS version a handshake with `context` gets, after PostgreSQL's SSLRequest."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        raw.sendall(_SSL_REQUEST)
        assert raw.recv(1) == b"S"
        with context.wrap_socket(raw) as tls:
            return tls.version()


def client_context(maximum: ssl.TLSVersion, ciphers: str | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = maximum
    if ciphers:
        context.set_ciphers(ciphers)
    return context


def test_default_apply_meets_every_control_on_the_live_server_and_files(env_file):
    declare_app(env_file)
    deploy_twice(env_file)
    port = env_file.port

    # Cluster and files.
    assert show(port, "data_checksums") == "on"
    assert postmaster_umask(env_file) == "0077"
    login = subprocess.run(["runuser", "-l", "postgres", "-c", "umask"], capture_output=True,
                           text=True, check=True).stdout.split()[-1]
    assert login == "0077"
    socket_dir = show(port, "unix_socket_directories").split(",")[0].strip()
    assert mode(Path(socket_dir) / f".s.PGSQL.{port}") == 0o770
    log_dir = Path(show(port, "log_directory"))
    assert log_dir == Path(f"/var/log/postgresql/15-{env_file.name}")
    assert not log_dir.is_relative_to(data_directory(env_file))
    assert mode(log_dir) == 0o700 and pwd.getpwuid(log_dir.stat().st_uid).pw_name == "postgres"
    assert show(port, "logging_collector") == "on"

    # Logging, read back from the log itself: connections, the prefix, DDL.
    with connect(env_file, application_name="hardprobe") as conn:
        conn.execute("CREATE TABLE hard_probe_table (id int)")
    text = wait_for_log(env_file, r"statement: CREATE TABLE hard_probe_table")
    assert re.search(rf"{OWNER}@{DATABASE} app=\S+ client=127\.0\.0\.1 "
                     r"LOG:  connection authorized", text)
    assert re.search(rf"{OWNER}@{DATABASE} app=hardprobe client=127\.0\.0\.1 "
                     r"LOG:  statement: CREATE TABLE", text)
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC \[\d+\] ", text, re.M)
    wait_for_log(env_file, r"disconnection: session time")
    assert log_files(env_file) and all(mode(p) == 0o600 for p in log_files(env_file))
    for name, value in (("log_connections", "on"), ("log_disconnections", "on"),
                        ("log_statement", "ddl"), ("log_error_verbosity", "default"),
                        ("log_timezone", "UTC"), ("log_replication_commands", "on"),
                        ("log_rotation_age", "1d"), ("log_rotation_size", "100MB"),
                        ("log_truncate_on_rotation", "on"), ("log_file_mode", "0600")):
        assert show(port, name) == value, name

    # Authentication.
    assert show(port, "password_encryption") == "scram-sha-256"
    assert sql(port, "SELECT count(*) FROM pg_authid WHERE rolpassword LIKE 'md5%'") == "0"
    assert sql(port, "SELECT count(*) FROM pg_hba_file_rules "
                     "WHERE auth_method IN ('md5', 'password')") == "0"
    libraries = [lib.strip() for lib in show(port, "shared_preload_libraries").split(",")]
    assert {"passwordcheck", "auth_delay"} <= set(libraries)
    assert show(port, "auth_delay.milliseconds") == "500ms"
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(env_file, password="not-" + PASSWORD)
    assert time.monotonic() - started >= 0.45, "a failed login must wait (auth_delay)"
    probe = subprocess.run(
        ["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/psql", "-X", "-p",
         str(port), "-d", "postgres", "-c", "CREATE ROLE hard_pw_probe PASSWORD 'abc'"],
        capture_output=True, text=True, check=False)
    assert probe.returncode != 0 and "password is too short" in probe.stderr
    assert show(port, "authentication_timeout") == "30s"
    with pytest.raises(psycopg.OperationalError, match='rejects connection.*"postgres"'):
        connect(env_file, user="postgres", password=PASSWORD, dbname="postgres")
    assert sql(port, "SELECT 1") == "1"  # postgres still reaches the socket with peer
    limits = dict(line.split("|") for line in sql(
        port, "SELECT rolname, rolconnlimit FROM pg_roles WHERE rolcanlogin AND NOT rolsuper"
    ).splitlines())
    assert limits == {OWNER: str(50 - 3 - 4), READER: "4"}

    # TLS: 1.2 and 1.3 clients are served strong suites; a SHA-1 suite is refused.
    assert show(port, "ssl_min_protocol_version") == "TLSv1.2"
    assert show(port, "ssl_ciphers") == hardening.SSL_CIPHERS
    assert show(port, "ssl_prefer_server_ciphers") == "on"
    assert handshake(port, client_context(ssl.TLSVersion.TLSv1_2)) == "TLSv1.2"
    assert handshake(port, client_context(ssl.TLSVersion.TLSv1_3)) == "TLSv1.3"
    with pytest.raises(ssl.SSLError):
        handshake(port, client_context(ssl.TLSVersion.TLSv1_2, ciphers="AES128-SHA"))
    with connect(env_file, ssl_max_protocol_version="TLSv1.2") as conn:
        version, cipher = conn.execute(
            "SELECT version, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    assert version == "TLSv1.2" and ("GCM" in cipher or "CHACHA" in cipher)

    # Runtime.
    for name, value in (("ignore_system_indexes", "off"), ("jit_debugging_support", "off"),
                        ("jit_profiling_support", "off"), ("post_auth_delay", "0")):
        assert show(port, name) == value, name
    assert sql(port, "SELECT count(*) FROM pg_settings WHERE pending_restart") == "0"


def _set_by_alter_system(port: int) -> set[str]:
    return set(sql(port, "SELECT name FROM pg_settings "
                         "WHERE sourcefile LIKE '%/postgresql.auto.conf'").split())


def _ready_count(env_file) -> int:
    """How many times the server has come up, from the startup log and the collector's."""
    paths = [Path(f"/var/log/postgresql/postgresql-15-{env_file.name}.log")]
    collector = Path(f"/var/log/postgresql/15-{env_file.name}")
    if collector.is_dir():
        paths += sorted(collector.iterdir())
    return sum(p.read_text(errors="replace").count("ready to accept connections")
               for p in paths if p.is_file())


def s_client(port: int, *args: str) -> subprocess.CompletedProcess:
    """openssl s_client through PostgreSQL's SSLRequest; stdin closed, so it ends after the
    handshake (exit 0) or at the server's alert (exit 1)."""
    return subprocess.run(["openssl", "s_client", "-starttls", "postgres", "-connect",
                           f"127.0.0.1:{port}", *args], input="", capture_output=True,
                          text=True, timeout=60, check=False)


def rsa_host_certificate(directory: Path) -> dict:
    """A CA and an RSA server certificate for localhost signed by it, as `tls` takes them: an
    RSA key is what lets a client ask for suites without forward secrecy (RSA key exchange),
    which an ECDSA key could never serve."""
    from datetime import UTC, datetime, timedelta
    from ipaddress import ip_address

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    from pgstead.pki import ensure_ca

    company = directory / "company-ca"
    ca_pem, ca_key_pem = ensure_ca(company, "company")
    ca = x509.load_pem_x509_certificate(ca_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ip_address("127.0.0.1")),
                x509.IPAddress(ip_address("::1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (directory / "rsa.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = directory / "rsa.key"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return {"ca": {"cert": str(company / "ca.crt"), "key": str(company / "ca.key")},
            "host_certs": {"@local": {"cert": str(directory / "rsa.crt"),
                                      "key": str(key_path)}}}


def test_baseline_refuses_tls12_suites_without_forward_secrecy(env_file, tmp_path):
    declare_app(env_file)
    env_file.data["tls"].update(rsa_host_certificate(tmp_path))
    env_file.write()
    deploy_twice(env_file)
    port = env_file.port
    # RSA key exchange (no forward secrecy) with AES-GCM: OpenSSL's HIGH admits it.
    refused = s_client(port, "-tls1_2", "-cipher", "AES128-GCM-SHA256")
    assert refused.returncode != 0, refused.stdout
    assert "handshake failure" in refused.stderr or "no shared cipher" in refused.stderr, \
        refused.stderr
    for weak in ("AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA256", "ECDHE-RSA-AES256-SHA"):
        assert s_client(port, "-tls1_2", "-cipher", weak).returncode != 0, weak
    for suite in ("ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-CHACHA20-POLY1305",
                  "DHE-RSA-AES256-GCM-SHA384"):
        accepted = s_client(port, "-tls1_2", "-cipher", suite)
        assert accepted.returncode == 0, accepted.stderr
        assert f"Cipher is {suite}" in accepted.stdout, accepted.stdout
    assert "TLSv1.3" in s_client(port, "-tls1_3").stdout


def test_public_schema_is_usable_only_by_the_declared_users_of_each_database(env_file):
    declare_app(env_file, tls=False)
    env_file.data["databases"][0]["extensions"] = ["pgcrypto"]
    env_file.write()
    deploy_twice(env_file)
    port = env_file.port
    digest = "SELECT encode(public.digest('pgstead', 'sha256'), 'hex')"
    reader_password = (env_file.state_dir / env_file.name / "secrets"
                       / f"{READER}.password").read_text().rstrip("\n")
    with connect(env_file, user=READER, password=reader_password, sslmode="disable") as conn:
        assert len(conn.execute(digest).fetchone()[0]) == 64
    with connect(env_file, sslmode="disable") as conn:  # the owner
        assert len(conn.execute(digest).fetchone()[0]) == 64
    sql(port, "CREATE ROLE hard_stranger LOGIN CONNECTION LIMIT 1")
    try:
        sql(port, f"GRANT CONNECT ON DATABASE {DATABASE} TO hard_stranger")
        denied = subprocess.run(
            ["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/psql", "-X", "-p",
             str(port), "-d", DATABASE, "-c", f"SET ROLE hard_stranger; {digest}"],
            capture_output=True, text=True, check=False)
        assert denied.returncode != 0
        assert "permission denied for schema public" in denied.stderr
        # template1 is locked too, so a database made by hand starts locked.
        usage = "SELECT has_schema_privilege('public', 'public', 'USAGE')"
        assert sql(port, usage, "template1") == "f"
        sql(port, "CREATE DATABASE hard_by_hand")
        assert sql(port, usage, "hard_by_hand") == "f"
    finally:
        sql(port, "DROP DATABASE IF EXISTS hard_by_hand")
        sql(port, f"REVOKE ALL ON DATABASE {DATABASE} FROM hard_stranger")
        sql(port, "DROP ROLE hard_stranger")
    assert sql(port, usage, DATABASE) == "f"


def test_level_off_leaves_distribution_defaults_and_switching_on_restarts_once(env_file):
    declare_app(env_file, tls=False)
    env_file.data["hardening"] = {"level": "off"}
    env_file.write()
    deploy_twice(env_file)
    port = env_file.port
    # Only what the file asks (and pgstead's SCRAM baseline) comes from ALTER SYSTEM.
    assert _set_by_alter_system(port) & set(HARDENING_PARAMETERS) == set()
    sources = dict(line.split("|") for line in sql(
        port, "SELECT name, source FROM pg_settings WHERE name = ANY(ARRAY["
        + ",".join(f"'{n}'" for n in HARDENING_PARAMETERS) + "])").splitlines())
    assert set(sources.values()) <= {"default", "configuration file"}, sources
    assert show(port, "log_connections") == "on"  # the file asks for it
    assert show(port, "logging_collector") == "off"
    assert not Path(f"/var/log/postgresql/15-{env_file.name}").exists()
    assert sql(port, "SELECT count(*) FROM pg_hba_file_rules "
                     "WHERE 'postgres' = ANY(user_name) AND auth_method = 'reject'") == "0"
    assert sql(port, f"SELECT rolconnlimit FROM pg_roles WHERE rolname = '{OWNER}'") == "-1"

    # Back to the default: the plan names the restart, the apply restarts exactly once.
    del env_file.data["hardening"]
    env_file.write()
    plan = dry(env_file.path, env_file.state_dir, extra_env={"HARD_PW": PASSWORD})
    restarts = [line for line in plan.stderr.splitlines() if line.endswith("(restart)")]
    assert any("shared_preload_libraries" in line for line in restarts), plan.stderr
    assert any("logging_collector" in line for line in restarts), plan.stderr
    ready, started = _ready_count(env_file), postmaster_start(port)
    deploy_twice(env_file)
    assert postmaster_start(port) != started
    assert _ready_count(env_file) == ready + 1
    assert show(port, "logging_collector") == "on"
    assert sql(port, f"SELECT rolconnlimit FROM pg_roles WHERE rolname = '{OWNER}'") == "43"


def test_an_opted_out_control_is_left_alone(env_file):
    declare_app(env_file, tls=False)
    env_file.data["hardening"] = {"opt_out": [
        {"control": "log_statement", "reason": "statement logging is done by the proxy"},
        {"control": "superuser_local_only", "reason": "break-glass access over the VPN"},
    ]}
    env_file.write()
    deploy_twice(env_file)
    port = env_file.port
    assert show(port, "log_statement") == "none"
    assert "log_statement" not in _set_by_alter_system(port)
    assert sql(port, "SELECT count(*) FROM pg_hba_file_rules "
                     "WHERE 'postgres' = ANY(user_name) AND auth_method = 'reject'") == "0"
    # Every other control still applies.
    assert show(port, "log_disconnections") == "on"
    assert show(port, "logging_collector") == "on"


def test_strict_tightens_the_baseline(env_file):
    declare_app(env_file)
    env_file.data["hardening"] = {"level": "strict", "pgaudit": {"enabled": False}}
    env_file.write()
    deploy_twice(env_file)
    port = env_file.port
    assert show(port, "log_statement") == "mod"
    assert show(port, "log_error_verbosity") == "verbose"
    assert show(port, "authentication_timeout") == "10s"
    assert show(port, "auth_delay.milliseconds") == "1s"
    assert show(port, "ssl_min_protocol_version") == "TLSv1.3"
    with pytest.raises(ssl.SSLError):
        handshake(port, client_context(ssl.TLSVersion.TLSv1_2))
    refused = s_client(port, "-tls1_2")
    assert refused.returncode != 0 and "protocol version" in refused.stderr, refused.stderr
    assert handshake(port, client_context(ssl.TLSVersion.TLSv1_3)) == "TLSv1.3"
    # set_user: installed from Debian's package and preloaded, so escalation is logged.
    installed = subprocess.run(["dpkg-query", "-W", "-f", "${db:Status-Status}",
                                "postgresql-15-set-user"], capture_output=True, text=True)
    assert installed.stdout == "installed"
    libraries = {lib.strip() for lib in show(port, "shared_preload_libraries").split(",")}
    assert {"passwordcheck", "auth_delay", "set_user"} <= libraries
    # The superuser gets a connection limit: backups.jobs (2) + 2, then 2 + 3 + 1.
    assert sql(port, "SELECT rolconnlimit FROM pg_roles WHERE rolname = 'postgres'") == "10"
    # The key is encrypted at rest; the server reads the passphrase from root's file.
    key = Path(f"/etc/postgresql/15/{env_file.name}/server.key")
    assert key.read_text().startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    passphrase = Path(f"/etc/pgstead/tls/15-{env_file.name}.passphrase")
    st = passphrase.stat()
    assert (stat.S_IMODE(st.st_mode), pwd.getpwuid(st.st_uid).pw_name) == (0o440, "root")
    assert show(port, "ssl_passphrase_command") == f"cat {passphrase}"
    assert show(port, "ssl_passphrase_command_supports_reload") == "on"


# ---- the controls table, pure logic ---------------------------------------------------------

def _environment(tmp_path, monkeypatch, text: str):
    from pgstead.cli.checks import check_environment

    monkeypatch.setenv("PGSTEAD_STATE_DIR", str(tmp_path / "state"))
    path = tmp_path / "h.yml"
    path.write_text("name: h\ntls: {enabled: false, require: false}\n" + text)
    return check_environment(path)


def test_controls_are_unique_and_every_parameter_they_set_is_audited(tmp_path, monkeypatch):
    from pgstead.desired import hardening

    env = _environment(tmp_path, monkeypatch, "").environment
    assert len(set(hardening.CONTROL_NAMES)) == len(hardening.CONTROLS)
    audited = set(hardening.parameter_names(env))
    for control in hardening.active(env):
        assert set(control.settings(env)) <= audited, control.name


def test_an_explicit_setting_weaker_than_a_control_is_a_warning(tmp_path, monkeypatch):
    report = _environment(tmp_path, monkeypatch, "postgres:\n  settings:\n"
                          "    log_statement: all\n    authentication_timeout: 1min\n")
    assert report.ok
    [warning] = report.warnings
    assert warning.path == "postgres.settings.authentication_timeout"
    assert "hardening control authentication_timeout" in warning.message


def test_superuser_tcp_openings_see_all_rules_not_shadowed_by_a_reject():
    from pgstead.desired.hardening import HbaLine, superuser_tcp_openings

    def rule(line, kind, db, user, method, address="all"):
        return HbaLine(line, kind, (db,), (user,), address, method)

    local_only = (rule(1, "local", "all", "postgres", "peer", None),
                  rule(2, "host", "all", "postgres", "reject"),
                  rule(3, "host", "replication", "postgres", "reject"),
                  rule(4, "hostssl", "all", "all", "scram-sha-256", "10.0.0.0/8"),
                  rule(5, "hostssl", "replication", "all", "scram-sha-256", "10.0.0.0/8"))
    assert superuser_tcp_openings(local_only) == []
    no_replication_reject = local_only[:2] + local_only[3:]
    assert [r.line for r in superuser_tcp_openings(no_replication_reject)] == [5]
    assert [r.line for r in superuser_tcp_openings(local_only[3:])] == [4, 5]


def test_pgaudit_and_set_user_are_installed_preloaded_and_audit_logs(env_file):
    declare_app(env_file, tls=False)
    env_file.data["hardening"] = {"pgaudit": {"enabled": True, "classes": ["ddl", "role"]},
                                  "set_user": True}
    env_file.write()
    deploy_twice(env_file)
    port = env_file.port
    libraries = {lib.strip() for lib in show(port, "shared_preload_libraries").split(",")}
    assert {"passwordcheck", "auth_delay", "pgaudit", "set_user"} <= libraries
    assert show(port, "pgaudit.log") == "ddl, role"
    with connect(env_file, sslmode="disable") as conn:
        conn.execute("CREATE TABLE hard_audited (id int)")
    wait_for_log(env_file, r"AUDIT: SESSION,\d+,\d+,DDL,CREATE TABLE")


def test_the_schema_names_every_control_for_opt_out():
    import json

    from tests.pgstead_run import ROOT

    schema = json.loads((ROOT / "schemas" / "environment.schema.json").read_text())
    hardening_schema = schema["properties"]["hardening"]
    names = hardening_schema["properties"]["opt_out"]["items"]["properties"]["control"]["enum"]
    assert tuple(names) == hardening.CONTROL_NAMES
    assert ("Controls: " + ", ".join(hardening.CONTROL_NAMES) + ".") in \
        hardening_schema["description"]


def test_strict_controls_follow_the_level_and_the_file(tmp_path, monkeypatch):
    baseline = _environment(tmp_path, monkeypatch, "").environment
    strict_env = _environment(tmp_path, monkeypatch, "hardening: {level: strict}\n").environment
    assert not hardening.is_active(baseline, "superuser_connection_limit")
    assert not hardening.is_active(baseline, "set_user")
    assert hardening.is_active(strict_env, "superuser_connection_limit")
    assert hardening.is_active(strict_env, "set_user")
    assert hardening.superuser_connection_limit(strict_env) == strict_env.backups.jobs + 8
    # No TLS, no key to encrypt.
    assert not hardening.is_active(strict_env, "ssl_key_encrypted")
    without = _environment(tmp_path, monkeypatch,
                           "hardening: {level: strict, set_user: false}\n").environment
    assert not hardening.is_active(without, "set_user")
