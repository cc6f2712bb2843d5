"""What a certificate says about itself, in plain values for reports and renewal checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes

from pgstead.pki.pem import load_certificate
from pgstead.pki.sans import sans_of


@dataclass(frozen=True)
class CertInfo:
    subject: str  # RFC 4514, e.g. "CN=db1.example.com"
    issuer: str
    sans: tuple[str, ...]
    not_before: datetime  # timezone-aware, UTC
    not_after: datetime
    serial: int
    fingerprint_sha256: str  # "AB:CD:...", as openssl and browsers show it

    def days_left(self, now: datetime | None = None) -> int:
        """Whole days until expiry (negative once expired)."""
        return (self.not_after - (now or datetime.now(UTC))).days


def cert_info(cert_pem: bytes) -> CertInfo:
    cert = load_certificate(cert_pem)
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        sans=sans_of(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        serial=cert.serial_number,
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(":").upper(),
    )
