"""Controller-side PKI: a real CA, real certificates, and real TLS handshakes on loopback."""

from __future__ import annotations

import ipaddress
import multiprocessing
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pgstead.pki import (
    PkiError,
    cert_info,
    client_cert_paths,
    ensure_ca,
    ensure_client_cert,
    ensure_server_cert,
    issue_client_cert,
    issue_server_cert,
    needs_renewal,
    server_cert_paths,
    server_sans,
)

LOCAL_SANS = server_sans("db1.example.com", "127.0.0.1", ["localhost"], ["db.example.com"])


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def pki_dir(tmp_path: Path) -> Path:
    return tmp_path / "state" / "pki"


@pytest.fixture
def ca(pki_dir: Path) -> tuple[bytes, bytes]:
    return ensure_ca(pki_dir, "test")


def write(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


def make_foreign_ca(directory: Path, *, is_ca: bool = True) -> tuple[Path, Path]:
    """A CA made outside pgstead (RSA, as company CAs often are), written as PEM files."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Company Root")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path = write(directory / "ca.pem", cert.public_bytes(serialization.Encoding.PEM), 0o644)
    key_path = write(
        directory / "ca.key",
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ),
    )
    return cert_path, key_path


# --- the CA ---------------------------------------------------------------------------------


def test_ca_is_generated_once_and_reused_with_private_modes(pki_dir: Path) -> None:
    first = ensure_ca(pki_dir, "prod")
    second = ensure_ca(pki_dir, "prod")

    assert first == second
    assert mode_of(pki_dir) == 0o700
    assert mode_of(pki_dir / "ca.key") == 0o600
    assert (pki_dir / "ca.crt").read_bytes() == first[0]
    cert = x509.load_pem_x509_certificate(first[0])
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert "prod" in cert.subject.rfc4514_string()
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert b"PRIVATE KEY" not in first[0]


def test_ca_directory_and_key_modes_are_tightened_when_loosened(pki_dir: Path) -> None:
    ensure_ca(pki_dir, "prod")
    pki_dir.chmod(0o755)
    (pki_dir / "ca.key").chmod(0o644)

    ensure_ca(pki_dir, "prod")

    assert mode_of(pki_dir) == 0o700
    assert mode_of(pki_dir / "ca.key") == 0o600


def test_ca_with_its_key_missing_is_refused_not_regenerated(pki_dir: Path) -> None:
    cert_pem, _ = ensure_ca(pki_dir, "prod")
    (pki_dir / "ca.key").unlink()

    with pytest.raises(PkiError, match="ca.key does not"):
        ensure_ca(pki_dir, "prod")
    assert (pki_dir / "ca.crt").read_bytes() == cert_pem


def test_ca_is_created_once_by_concurrent_threads(pki_dir: Path) -> None:
    start = threading.Barrier(8)

    def race(_: int) -> tuple[bytes, bytes]:
        start.wait()
        return ensure_ca(pki_dir, "prod")

    with ThreadPoolExecutor(8) as pool:
        results = set(pool.map(race, range(8)))

    assert len(results) == 1


def test_ca_is_created_once_by_concurrent_processes(pki_dir: Path) -> None:
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(4, mp_context=context) as pool:
        results = set(pool.map(ensure_ca, [pki_dir] * 8, ["prod"] * 8))

    assert len(results) == 1
    assert results == {ensure_ca(pki_dir, "prod")}


# --- SANs -----------------------------------------------------------------------------------


def test_server_sans_are_ordered_and_deduplicated() -> None:
    sans = server_sans(
        "db1.example.com", "10.0.0.5", ["localhost"], ["DB.example.com", "db1.example.com."]
    )

    assert sans == [
        "db1.example.com",
        "10.0.0.5",
        "localhost",
        "127.0.0.1",
        "::1",
        "db.example.com",
    ]


def test_server_sans_leave_out_localhost_when_not_listening_there() -> None:
    assert server_sans("db1", "db1.internal", ["10.0.0.5"], []) == ["db1", "db1.internal"]


def test_server_sans_include_localhost_when_listening_everywhere() -> None:
    assert "localhost" in server_sans("db1", None, ["*"], [])


def test_server_sans_skip_connector_names_but_refuse_bad_server_names() -> None:
    assert server_sans("@local", None, ["localhost"], []) == ["localhost", "127.0.0.1", "::1"]
    with pytest.raises(PkiError, match="server_names"):
        server_sans("db1", None, [], ["not a host"])


# --- server certificates --------------------------------------------------------------------


def test_server_cert_chains_to_ca_with_computed_sans_and_p256_key(ca: tuple[bytes, bytes]) -> None:
    cert_pem, key_pem = issue_server_cert(
        *ca, common_name="db1.example.com", sans=LOCAL_SANS, days=825
    )

    cert = x509.load_pem_x509_certificate(cert_pem)
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca[0]))
    info = cert_info(cert_pem)
    assert list(info.sans) == LOCAL_SANS
    assert info.subject == "CN=db1.example.com"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert x509.IPAddress(ipaddress.ip_address("127.0.0.1")) in san
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert abs(info.not_after - (datetime.now(UTC) + timedelta(days=825))) < timedelta(minutes=1)
    assert info.days_left() == 824


def test_each_issue_makes_a_fresh_key(ca: tuple[bytes, bytes]) -> None:
    _, key_a = issue_server_cert(*ca, common_name="db1", sans=["db1"], days=10)
    _, key_b = issue_server_cert(*ca, common_name="db1", sans=["db1"], days=10)

    assert key_a != key_b


def test_cert_info_reports_fingerprint_and_issuer(ca: tuple[bytes, bytes]) -> None:
    cert_pem, _ = issue_server_cert(*ca, common_name="db1", sans=["db1"], days=10)

    info = cert_info(cert_pem)
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert (
        info.fingerprint_sha256.replace(":", "") == cert.fingerprint(hashes.SHA256()).hex().upper()
    )
    assert info.issuer == x509.load_pem_x509_certificate(ca[0]).subject.rfc4514_string()
    assert info.serial == cert.serial_number


# --- real TLS handshakes --------------------------------------------------------------------


@contextmanager
def tls_server(
    cert: Path, key: Path, *, client_ca: Path | None = None
) -> Iterator[tuple[int, list[str]]]:
    """Serve TLS on 127.0.0.1 in a thread; yields the port and the peers' CNs it saw."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    peers: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    peer = tls.getpeercert()
                    if peer:
                        peers.append(dict(x[0] for x in peer["subject"])["commonName"])
                    tls.sendall(b"ok")
            except (ssl.SSLError, OSError):
                pass  # the client refused us: that is what some tests expect

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], peers
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def handshake(
    port: int, cafile: Path, hostname: str, client: tuple[Path, Path] | None = None
) -> bytes:
    context = ssl.create_default_context(cafile=str(cafile))
    assert context.check_hostname
    if client is not None:
        context.load_cert_chain(*client)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname=hostname) as tls,
    ):
        return tls.recv(2)


@pytest.fixture
def served(tmp_path: Path, pki_dir: Path, ca: tuple[bytes, bytes]) -> Iterator[tuple[int, Path]]:
    ensure_server_cert(
        pki_dir, "db1.example.com", *ca, sans=LOCAL_SANS, days=30, renew_before_days=7
    )
    cert, key = server_cert_paths(pki_dir, "db1.example.com")
    with tls_server(cert, key, client_ca=None) as (port, _):
        yield port, pki_dir / "ca.crt"


def test_tls_handshake_verifies_localhost_against_the_ca(served: tuple[int, Path]) -> None:
    port, cafile = served

    assert handshake(port, cafile, "localhost") == b"ok"
    assert handshake(port, cafile, "db.example.com") == b"ok"


def test_tls_handshake_refuses_a_name_not_in_the_sans(served: tuple[int, Path]) -> None:
    port, cafile = served

    with pytest.raises(ssl.SSLCertVerificationError, match="[Hh]ostname mismatch"):
        handshake(port, cafile, "db9.example.com")


def test_tls_handshake_refuses_a_server_from_another_ca(
    served: tuple[int, Path], tmp_path: Path
) -> None:
    port, _ = served
    other_ca, _ = ensure_ca(tmp_path / "other" / "pki", "other")
    other = write(tmp_path / "other-ca.crt", other_ca, 0o644)

    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        handshake(port, other, "localhost")


def test_client_cert_logs_in_to_a_server_that_demands_one(
    tmp_path: Path, pki_dir: Path, ca: tuple[bytes, bytes]
) -> None:
    ensure_server_cert(pki_dir, "db1", *ca, sans=LOCAL_SANS, days=30, renew_before_days=7)
    client = ensure_client_cert(pki_dir, "app_rw", *ca, days=30, renew_before_days=7)
    cert, key = server_cert_paths(pki_dir, "db1")
    cafile = pki_dir / "ca.crt"

    with tls_server(cert, key, client_ca=cafile) as (port, peers):
        assert handshake(port, cafile, "localhost", client=client) == b"ok"
        # Without a client certificate the server ends the handshake.
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            handshake(port, cafile, "localhost")
    assert peers == ["app_rw"]


# --- client certificates --------------------------------------------------------------------


def test_client_cert_has_client_auth_and_the_role_as_cn(ca: tuple[bytes, bytes]) -> None:
    cert_pem, key_pem = issue_client_cert(*ca, user="app_rw", days=90)

    cert = x509.load_pem_x509_certificate(cert_pem)
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca[0]))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "app_rw"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert serialization.load_pem_private_key(key_pem, password=None).curve.name == "secp256r1"


def test_client_cert_is_kept_for_the_app_and_reused(pki_dir: Path, ca: tuple[bytes, bytes]) -> None:
    crt, key = ensure_client_cert(pki_dir, "app_rw", *ca, days=90, renew_before_days=30)
    first = crt.read_bytes()
    again = ensure_client_cert(pki_dir, "app_rw", *ca, days=90, renew_before_days=30)

    assert (crt, key) == (pki_dir / "clients" / "app_rw.crt", pki_dir / "clients" / "app_rw.key")
    assert again == (crt, key)
    assert crt.read_bytes() == first
    assert mode_of(key) == 0o600
    assert mode_of(crt.parent) == 0o700


def test_client_cert_is_reissued_when_forced_or_near_expiry(
    pki_dir: Path, ca: tuple[bytes, bytes]
) -> None:
    crt, _ = ensure_client_cert(pki_dir, "app_rw", *ca, days=10, renew_before_days=5)
    first = crt.read_bytes()
    ensure_client_cert(pki_dir, "app_rw", *ca, days=10, renew_before_days=30)
    second = crt.read_bytes()
    ensure_client_cert(pki_dir, "app_rw", *ca, days=90, renew_before_days=30, force=True)

    assert first != second != crt.read_bytes()


def test_role_names_with_slashes_stay_inside_the_clients_dir(pki_dir: Path) -> None:
    crt, key = client_cert_paths(pki_dir, "../evil/name")

    assert crt.parent == key.parent == pki_dir / "clients"


# --- renewal --------------------------------------------------------------------------------


def test_needs_renewal_accepts_a_good_cert(ca: tuple[bytes, bytes]) -> None:
    cert_pem, _ = issue_server_cert(*ca, common_name="db1", sans=LOCAL_SANS, days=90)

    assert needs_renewal(cert_pem, ca_cert_pem=ca[0], sans=LOCAL_SANS, renew_before_days=30) is None
    # Order and spelling of the wanted SANs do not matter.
    shuffled = [s.upper() for s in reversed(LOCAL_SANS)]
    assert needs_renewal(cert_pem, ca_cert_pem=ca[0], sans=shuffled, renew_before_days=30) is None


def test_needs_renewal_reports_missing(ca: tuple[bytes, bytes]) -> None:
    assert needs_renewal(None, ca_cert_pem=ca[0], sans=["db1"], renew_before_days=30) == "missing"


def test_needs_renewal_reports_near_expiry(ca: tuple[bytes, bytes]) -> None:
    cert_pem, _ = issue_server_cert(*ca, common_name="db1", sans=["db1"], days=10)

    reason = needs_renewal(cert_pem, ca_cert_pem=ca[0], sans=["db1"], renew_before_days=30)

    assert reason == "expires in 9 days (renew_before_days 30)"


def test_needs_renewal_reports_expired(ca: tuple[bytes, bytes]) -> None:
    cert_pem, _ = issue_server_cert(*ca, common_name="db1", sans=["db1"], days=10)
    later = datetime.now(UTC) + timedelta(days=11)

    reason = needs_renewal(
        cert_pem, ca_cert_pem=ca[0], sans=["db1"], renew_before_days=1, now=later
    )

    assert reason is not None and reason.startswith("expired on ")


def test_needs_renewal_reports_san_changes(ca: tuple[bytes, bytes]) -> None:
    cert_pem, _ = issue_server_cert(
        *ca, common_name="db1", sans=["db1", "old.example.com"], days=90
    )

    reason = needs_renewal(
        cert_pem, ca_cert_pem=ca[0], sans=["db1", "db2.example.com"], renew_before_days=30
    )

    assert reason == "SANs differ: missing db2.example.com; unexpected old.example.com"


def test_needs_renewal_reports_another_ca(tmp_path: Path, ca: tuple[bytes, bytes]) -> None:
    other = ensure_ca(tmp_path / "other", "other")
    cert_pem, _ = issue_server_cert(*other, common_name="db1", sans=["db1"], days=90)

    reason = needs_renewal(cert_pem, ca_cert_pem=ca[0], sans=["db1"], renew_before_days=30)

    assert reason == "signed by another CA"


def test_server_cert_is_reused_with_the_same_bytes(pki_dir: Path, ca: tuple[bytes, bytes]) -> None:
    first = ensure_server_cert(pki_dir, "db1", *ca, sans=LOCAL_SANS, days=90, renew_before_days=30)
    second = ensure_server_cert(pki_dir, "db1", *ca, sans=LOCAL_SANS, days=90, renew_before_days=30)

    assert first[2] == "missing"
    assert second == (first[0], first[1], None)
    crt, key = server_cert_paths(pki_dir, "db1")
    assert crt.read_bytes() == first[0]
    assert mode_of(key) == 0o600
    assert mode_of(crt.parent) == 0o700


def test_server_cert_is_reissued_when_sans_change(pki_dir: Path, ca: tuple[bytes, bytes]) -> None:
    first = ensure_server_cert(pki_dir, "db1", *ca, sans=["db1"], days=90, renew_before_days=30)
    second = ensure_server_cert(
        pki_dir, "db1", *ca, sans=["db1", "db2.example.com"], days=90, renew_before_days=30
    )

    assert second[2] == "SANs differ: missing db2.example.com"
    assert second[0] != first[0] and second[1] != first[1]
    assert cert_info(second[0]).sans == ("db1", "db2.example.com")


def test_server_cert_is_reissued_near_expiry_and_when_forced(
    pki_dir: Path, ca: tuple[bytes, bytes]
) -> None:
    ensure_server_cert(pki_dir, "db1", *ca, sans=["db1"], days=10, renew_before_days=5)
    renewed = ensure_server_cert(pki_dir, "db1", *ca, sans=["db1"], days=90, renew_before_days=30)
    forced = ensure_server_cert(
        pki_dir, "db1", *ca, sans=["db1"], days=90, renew_before_days=30, force=True
    )

    assert renewed[2] == "expires in 9 days (renew_before_days 30)"
    assert forced[2] == "forced"
    assert cert_info(forced[0]).days_left() == 89


def test_server_cert_is_reissued_when_its_key_is_lost_or_wrong(
    pki_dir: Path, ca: tuple[bytes, bytes]
) -> None:
    ensure_server_cert(pki_dir, "db1", *ca, sans=["db1"], days=90, renew_before_days=30)
    crt, key = server_cert_paths(pki_dir, "db1")
    key.unlink()
    after_loss = ensure_server_cert(
        pki_dir, "db1", *ca, sans=["db1"], days=90, renew_before_days=30
    )
    _, stranger = issue_server_cert(*ca, common_name="x", sans=["x"], days=1)
    write(key, stranger)
    after_swap = ensure_server_cert(
        pki_dir, "db1", *ca, sans=["db1"], days=90, renew_before_days=30
    )

    assert after_loss[2] == "key missing"
    assert after_swap[2] == "key does not match certificate"


def test_server_cert_is_reissued_when_the_ca_changes(
    tmp_path: Path, pki_dir: Path, ca: tuple[bytes, bytes]
) -> None:
    ensure_server_cert(pki_dir, "db1", *ca, sans=["db1"], days=90, renew_before_days=30)
    new_ca = ensure_ca(tmp_path / "new", "new")

    again = ensure_server_cert(pki_dir, "db1", *new_ca, sans=["db1"], days=90, renew_before_days=30)

    assert again[2] == "signed by another CA"
    x509.load_pem_x509_certificate(again[0]).verify_directly_issued_by(
        x509.load_pem_x509_certificate(new_ca[0])
    )


# --- bring your own CA ----------------------------------------------------------------------


def test_byo_ca_signs_server_certs(tmp_path: Path, pki_dir: Path) -> None:
    cert_path, key_path = make_foreign_ca(tmp_path / "company")

    ca = ensure_ca(pki_dir, "prod", byo=(cert_path, key_path))
    cert_pem, _, reason = ensure_server_cert(
        pki_dir, "db1", *ca, sans=LOCAL_SANS, days=30, renew_before_days=7
    )

    assert ca[0] == cert_path.read_bytes()
    assert reason == "missing"
    x509.load_pem_x509_certificate(cert_pem).verify_directly_issued_by(
        x509.load_pem_x509_certificate(cert_path.read_bytes())
    )
    assert not (pki_dir / "ca.key").exists()  # nothing generated beside a brought CA


def test_byo_ca_that_is_not_a_ca_is_refused(tmp_path: Path, pki_dir: Path) -> None:
    cert_path, key_path = make_foreign_ca(tmp_path / "company", is_ca=False)

    with pytest.raises(PkiError, match="not a CA certificate"):
        ensure_ca(pki_dir, "prod", byo=(cert_path, key_path))


def test_byo_server_cert_given_as_ca_is_refused(
    tmp_path: Path, pki_dir: Path, ca: tuple[bytes, bytes]
) -> None:
    cert_pem, key_pem = issue_server_cert(*ca, common_name="db1", sans=["db1"], days=30)
    cert_path = write(tmp_path / "server.crt", cert_pem, 0o644)
    key_path = write(tmp_path / "server.key", key_pem)

    with pytest.raises(PkiError, match="not a CA certificate"):
        ensure_ca(tmp_path / "pki2", "prod", byo=(cert_path, key_path))


def test_byo_ca_with_a_foreign_key_is_refused(tmp_path: Path, pki_dir: Path) -> None:
    cert_path, _ = make_foreign_ca(tmp_path / "one")
    _, other_key = make_foreign_ca(tmp_path / "two")

    with pytest.raises(PkiError, match="is not the private key of"):
        ensure_ca(pki_dir, "prod", byo=(cert_path, other_key))


def test_byo_ca_key_readable_by_others_is_refused(tmp_path: Path, pki_dir: Path) -> None:
    cert_path, key_path = make_foreign_ca(tmp_path / "company")
    key_path.chmod(0o644)

    with pytest.raises(PkiError, match="chmod 600"):
        ensure_ca(pki_dir, "prod", byo=(cert_path, key_path))


def test_byo_ca_missing_file_is_named(tmp_path: Path, pki_dir: Path) -> None:
    cert_path, _ = make_foreign_ca(tmp_path / "company")

    with pytest.raises(PkiError, match="nope.key does not exist"):
        ensure_ca(pki_dir, "prod", byo=(cert_path, tmp_path / "nope.key"))


def test_errors_never_quote_key_material(tmp_path: Path, pki_dir: Path) -> None:
    cert_path, key_path = make_foreign_ca(tmp_path / "company")
    secret_body = key_path.read_bytes()
    write(key_path, secret_body[:200])  # truncated: unreadable

    with pytest.raises(PkiError) as failure:
        ensure_ca(pki_dir, "prod", byo=(cert_path, key_path))
    body_line = secret_body.splitlines()[1].decode()
    assert body_line not in str(failure.value)


def test_server_cert_is_reissued_when_the_kept_copy_is_corrupt(
    pki_dir: Path, ca: tuple[bytes, bytes]
) -> None:
    ensure_server_cert(pki_dir, "db1", *ca, sans=["db1"], days=90, renew_before_days=30)
    crt, _ = server_cert_paths(pki_dir, "db1")
    crt.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")

    again = ensure_server_cert(pki_dir, "db1", *ca, sans=["db1"], days=90, renew_before_days=30)

    assert again[2] == "unreadable"
    assert cert_info(crt.read_bytes()).sans == ("db1",)
