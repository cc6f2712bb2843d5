"""Whether a certificate on the controller still serves, and if not, why (for the plan)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidSignature

from pgstead.pki.errors import PkiError
from pgstead.pki.pem import load_certificate
from pgstead.pki.sans import normalise_san, sans_of


def needs_renewal(
    cert_pem: bytes | None,
    *,
    ca_cert_pem: bytes,
    sans: Sequence[str],
    renew_before_days: int,
    now: datetime | None = None,
) -> str | None:
    """None when `cert_pem` is fine; otherwise a short human reason to issue a new one.

    Reasons: "missing", "unreadable", "signed by another CA", "expired on ...",
    "expires in N days (renew_before_days M)", "SANs differ: missing x; unexpected y".
    """
    if not cert_pem:
        return "missing"
    try:
        cert = load_certificate(cert_pem)
    except PkiError:
        return "unreadable"
    ca_cert = load_certificate(ca_cert_pem, "CA certificate")
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return "signed by another CA"
    now = now or datetime.now(UTC)
    left = cert.not_valid_after_utc - now
    if left <= timedelta(0):
        return f"expired on {cert.not_valid_after_utc:%Y-%m-%d}"
    if left < timedelta(days=renew_before_days):
        return f"expires in {left.days} days (renew_before_days {renew_before_days})"
    return _sans_difference(sans_of(cert), sans)


def _sans_difference(have: Sequence[str], want: Sequence[str]) -> str | None:
    have_set = {normalise_san(s) or s for s in have}
    want_list = list(dict.fromkeys(normalise_san(s) or s for s in want))
    missing = [s for s in want_list if s not in have_set]
    unexpected = [s for s in have if (normalise_san(s) or s) not in set(want_list)]
    if not missing and not unexpected:
        return None
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing))
    if unexpected:
        parts.append("unexpected " + ", ".join(unexpected))
    return "SANs differ: " + "; ".join(parts)
