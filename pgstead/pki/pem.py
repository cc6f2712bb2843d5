"""Reading and writing certificates and keys as PEM, and the one key type we make."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
)

from pgstead.pki.errors import PkiError


def new_private_key() -> ec.EllipticCurvePrivateKey:
    """ECDSA P-256: small, fast, and accepted by every supported PostgreSQL and libpq build."""
    return ec.generate_private_key(ec.SECP256R1())


def private_key_pem(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def certificate_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_certificate(pem: bytes, what: str = "certificate") -> x509.Certificate:
    """The first certificate in `pem` (a bundle's leading certificate is the one that signs)."""
    try:
        return x509.load_pem_x509_certificates(pem)[0]
    except ValueError as e:
        raise PkiError(f"{what} is not a readable PEM certificate ({e})") from None


def load_private_key(pem: bytes, what: str = "private key") -> PrivateKeyTypes:
    # The message of a failed load never quotes the key material, so it is safe to pass on.
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise PkiError(
            f"{what} is encrypted with a passphrase; give an unencrypted key file kept 0600"
        ) from None
    except ValueError as e:
        raise PkiError(f"{what} is not a readable PEM private key ({e})") from None


def load_issuer_key(pem: bytes, what: str = "CA key") -> CertificateIssuerPrivateKeyTypes:
    key = load_private_key(pem, what)
    if not isinstance(
        key,
        rsa.RSAPrivateKey
        | ec.EllipticCurvePrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey,
    ):
        raise PkiError(f"{what} has a type that cannot sign certificates: {type(key).__name__}")
    return key


def signature_hash(key: CertificateIssuerPrivateKeyTypes) -> hashes.HashAlgorithm | None:
    """The digest to sign with; EdDSA keys carry their own and take None."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    return hashes.SHA256()


def same_public_key(cert: x509.Certificate, key: PrivateKeyTypes) -> bool:
    der = serialization.Encoding.DER
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(der, spki) == key.public_key().public_bytes(der, spki)
