"""Signing new leaf certificates with the environment's CA: servers and client roles."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pgstead.pki.errors import PkiError
from pgstead.pki.pem import (
    certificate_pem,
    load_certificate,
    load_issuer_key,
    new_private_key,
    private_key_pem,
    same_public_key,
    signature_hash,
)
from pgstead.pki.sans import general_names

# Clients and servers whose clock lags the controller's a little still accept a fresh cert.
CLOCK_SKEW = timedelta(minutes=5)
_MAX_CN = 64  # RFC 5280 upper bound for commonName


def _leaf_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _sign_leaf(
    ca_cert_pem: bytes,
    ca_key_pem: bytes,
    *,
    subject: x509.Name,
    eku: list[x509.ObjectIdentifier],
    sans: list[x509.GeneralName],
    days: int,
) -> tuple[bytes, bytes]:
    if days < 1:
        raise PkiError(f"certificate validity must be at least 1 day, got {days}")
    ca_cert = load_certificate(ca_cert_pem, "CA certificate")
    ca_key = load_issuer_key(ca_key_pem)
    if not same_public_key(ca_cert, ca_key):
        raise PkiError("CA key does not belong to the CA certificate")
    key = new_private_key()
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),
            critical=False,
        )
    )
    if sans:
        # With an empty subject the SANs are the only identity and must be marked critical.
        builder = builder.add_extension(
            x509.SubjectAlternativeName(sans), critical=len(subject) == 0
        )
    cert = builder.sign(ca_key, signature_hash(ca_key))
    return certificate_pem(cert), private_key_pem(key)


def issue_server_cert(
    ca_cert_pem: bytes,
    ca_key_pem: bytes,
    *,
    common_name: str,
    sans: Sequence[str],
    days: int,
    client_auth: bool = False,
) -> tuple[bytes, bytes]:
    """A fresh key and a serverAuth certificate for it; returns (cert_pem, key_pem).

    `client_auth` adds clientAuth: a cluster member (etcd peer, Patroni) is both the server
    its peers call and a client of theirs, with one certificate.
    """
    if not sans:
        raise PkiError(f"server certificate for {common_name!r} needs at least one SAN")
    # Clients match host names against SANs only; a CN too long for X.509 is simply left out.
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if 0 < len(common_name) <= _MAX_CN
        else []
    )
    return _sign_leaf(
        ca_cert_pem,
        ca_key_pem,
        subject=subject,
        eku=[ExtendedKeyUsageOID.SERVER_AUTH,
             *([ExtendedKeyUsageOID.CLIENT_AUTH] if client_auth else [])],
        sans=general_names(sans),
        days=days,
    )


def issue_client_cert(
    ca_cert_pem: bytes, ca_key_pem: bytes, *, user: str, days: int
) -> tuple[bytes, bytes]:
    """A clientAuth certificate whose CN is the role name, as `cert` authentication maps it."""
    if not 0 < len(user) <= _MAX_CN:
        raise PkiError(f"role name {user!r} cannot be a certificate common name (1-64 characters)")
    return _sign_leaf(
        ca_cert_pem,
        ca_key_pem,
        subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user)]),
        eku=[ExtendedKeyUsageOID.CLIENT_AUTH],
        sans=[],
        days=days,
    )
