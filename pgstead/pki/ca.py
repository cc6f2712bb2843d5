"""The environment's certificate authority: generated once on the controller, or brought along."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from pgstead.pki.errors import PkiError
from pgstead.pki.files import CERT_MODE, KEY_MODE, pki_lock, read_if_exists, tighten, write_atomic
from pgstead.pki.issue import CLOCK_SKEW
from pgstead.pki.pem import (
    certificate_pem,
    load_certificate,
    load_issuer_key,
    new_private_key,
    private_key_pem,
    same_public_key,
)

CA_CERT = "ca.crt"
CA_KEY = "ca.key"


def ensure_ca(
    pki_dir: Path,
    env_name: str,
    *,
    byo: tuple[Path, Path] | None = None,
    days: int = 3650,
) -> tuple[bytes, bytes]:
    """The CA as (cert_pem, key_pem).

    Without `byo`, generate it under `pki_dir` (0700, key 0600) the first time and load the
    same bytes on every later run. With `byo=(cert, key)`, load the user's CA and check it.
    """
    if byo is not None:
        return _load_byo(*byo)
    with pki_lock(pki_dir):
        cert_path, key_path = pki_dir / CA_CERT, pki_dir / CA_KEY
        cert_pem, key_pem = read_if_exists(cert_path), read_if_exists(key_path)
        if cert_pem is None and key_pem is None:
            cert_pem, key_pem = _generate(env_name, days)
            # Key first: a cert without its key would be an unusable CA after a crash.
            write_atomic(key_path, key_pem, KEY_MODE)
            write_atomic(cert_path, cert_pem, CERT_MODE)
            return cert_pem, key_pem
        if cert_pem is None or key_pem is None:
            present, absent = (key_path, cert_path) if cert_pem is None else (cert_path, key_path)
            raise PkiError(
                f"{present} exists but {absent} does not; restore the missing file, or remove "
                f"both to generate a new CA (every certificate it signed must then be re-issued)"
            )
        tighten(key_path, KEY_MODE)
        _check_ca(cert_pem, key_pem, str(cert_path), str(key_path))
        return cert_pem, key_pem


def _generate(env_name: str, days: int) -> tuple[bytes, bytes]:
    if days < 1:
        raise PkiError(f"CA validity must be at least 1 day, got {days}")
    key = new_private_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pgstead"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"pgstead {env_name} CA"[:64]),
        ]
    )
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + timedelta(days=days))
        # path_length 0: this CA signs leaf certificates only, never another CA.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate_pem(cert), private_key_pem(key)


def _load_byo(cert_path: Path, key_path: Path) -> tuple[bytes, bytes]:
    cert_pem, key_pem = read_if_exists(cert_path), read_if_exists(key_path)
    if cert_pem is None:
        raise PkiError(f"tls.ca.cert: {cert_path} does not exist")
    if key_pem is None:
        raise PkiError(f"tls.ca.key: {key_path} does not exist")
    if key_path.stat().st_mode & 0o007:
        raise PkiError(f"tls.ca.key: {key_path} is readable by other users; chmod 600 it")
    _check_ca(cert_pem, key_pem, f"tls.ca.cert ({cert_path})", f"tls.ca.key ({key_path})")
    return cert_pem, key_pem


def _check_ca(cert_pem: bytes, key_pem: bytes, cert_what: str, key_what: str) -> None:
    """Refuse a CA that cannot sign: wrong key, not a CA, not for signing, or expired."""
    cert = load_certificate(cert_pem, cert_what)
    key = load_issuer_key(key_pem, key_what)
    if not same_public_key(cert, key):
        raise PkiError(f"{key_what} is not the private key of {cert_what}")
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise PkiError(
            f"{cert_what} is not a CA certificate (basicConstraints CA:TRUE missing); "
            f"give the certificate of the CA that should sign, not a server certificate"
        )
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not usage.key_cert_sign:
        raise PkiError(f"{cert_what} is a CA whose key usage forbids signing certificates")
    now = datetime.now(UTC)
    if cert.not_valid_after_utc <= now:
        raise PkiError(
            f"{cert_what} expired on {cert.not_valid_after_utc:%Y-%m-%d}; "
            f"renew the CA (for a generated CA: remove ca.crt and ca.key under the PKI directory)"
        )
