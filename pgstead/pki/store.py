"""The controller's copies of issued certificates: reused while good, re-issued when not.

Returning the same bytes on every run keeps the deploy's file upload a no-op until a
certificate really changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from cryptography.x509.oid import NameOID

from pgstead.pki.errors import PkiError
from pgstead.pki.files import (
    CERT_MODE,
    KEY_MODE,
    pki_lock,
    private_dir,
    read_if_exists,
    tighten,
    write_atomic,
)
from pgstead.pki.issue import issue_client_cert, issue_server_cert
from pgstead.pki.pem import load_certificate, load_private_key, same_public_key
from pgstead.pki.renewal import needs_renewal

HOSTS_DIR = "hosts"
CLIENTS_DIR = "clients"
MEMBERS_DIR = "members"


def _file_stem(name: str) -> str:
    # Inventory names such as "@docker/abc" and role names may hold "/"; escaping keeps each
    # name in its own file and two different names never share one.
    return quote(name, safe="@+=,")


def server_cert_paths(pki_dir: Path, host_name: str) -> tuple[Path, Path]:
    """Where the controller keeps a host's server certificate and key: (crt, key)."""
    stem = _file_stem(host_name)
    return pki_dir / HOSTS_DIR / f"{stem}.crt", pki_dir / HOSTS_DIR / f"{stem}.key"


def client_cert_paths(pki_dir: Path, user: str) -> tuple[Path, Path]:
    """Where the controller keeps a role's client certificate and key for the app: (crt, key)."""
    stem = _file_stem(user)
    return pki_dir / CLIENTS_DIR / f"{stem}.crt", pki_dir / CLIENTS_DIR / f"{stem}.key"


def _key_problem(cert_pem: bytes, key_pem: bytes | None) -> str | None:
    if key_pem is None:
        return "key missing"
    try:
        key = load_private_key(key_pem)
    except PkiError:
        return "key unreadable"
    if not same_public_key(load_certificate(cert_pem), key):
        return "key does not match certificate"
    return None


def _renewal_reason(
    cert_pem: bytes | None,
    key_pem: bytes | None,
    ca_cert_pem: bytes,
    sans: Sequence[str],
    renew_before_days: int,
    force: bool,
) -> str | None:
    """Why the kept certificate must be issued again, or None to reuse it."""
    if force:
        return "forced"
    reason = needs_renewal(
        cert_pem, ca_cert_pem=ca_cert_pem, sans=sans, renew_before_days=renew_before_days
    )
    if reason is None and cert_pem is not None:
        reason = _key_problem(cert_pem, key_pem)
    return reason


def _common_name(cert_pem: bytes) -> str | None:
    names = load_certificate(cert_pem).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def _save(crt: Path, key: Path, cert_pem: bytes, key_pem: bytes) -> None:
    private_dir(crt.parent)
    # Key first: after a crash in between, the old cert no longer matches and is re-issued.
    write_atomic(key, key_pem, KEY_MODE)
    write_atomic(crt, cert_pem, CERT_MODE)


def member_cert_paths(pki_dir: Path, host_name: str) -> tuple[Path, Path]:
    """Where the controller keeps a cluster member's certificate (etcd, Patroni): (crt, key)."""
    stem = _file_stem(host_name)
    return pki_dir / MEMBERS_DIR / f"{stem}.crt", pki_dir / MEMBERS_DIR / f"{stem}.key"


def ensure_server_cert(
    pki_dir: Path,
    host_name: str,
    ca_cert_pem: bytes,
    ca_key_pem: bytes,
    *,
    sans: Sequence[str],
    days: int,
    renew_before_days: int,
    force: bool = False,
    member: bool = False,
) -> tuple[bytes, bytes, str | None]:
    """The host's (cert_pem, key_pem, reason): reason is None when the kept copy was reused.

    `member`: the certificate a cluster member shows to its peers and their clients (server
    and client use), kept apart from the PostgreSQL server certificate.
    """
    paths = member_cert_paths if member else server_cert_paths
    crt, key = paths(pki_dir, host_name)
    with pki_lock(pki_dir):
        cert_pem, key_pem = read_if_exists(crt), read_if_exists(key)
        reason = _renewal_reason(cert_pem, key_pem, ca_cert_pem, sans, renew_before_days, force)
        if reason is None and cert_pem is not None and key_pem is not None:
            tighten(key, KEY_MODE)
            return cert_pem, key_pem, None
        common_name = next(iter(sans), host_name)
        cert_pem, key_pem = issue_server_cert(
            ca_cert_pem, ca_key_pem, common_name=common_name, sans=sans, days=days,
            client_auth=member,
        )
        _save(crt, key, cert_pem, key_pem)
        return cert_pem, key_pem, reason


def ensure_client_cert(
    pki_dir: Path,
    user: str,
    ca_cert_pem: bytes,
    ca_key_pem: bytes,
    *,
    days: int,
    renew_before_days: int,
    force: bool = False,
) -> tuple[Path, Path]:
    """The role's client (crt, key) files on the controller, issued or renewed as needed."""
    crt, key = client_cert_paths(pki_dir, user)
    with pki_lock(pki_dir):
        cert_pem, key_pem = read_if_exists(crt), read_if_exists(key)
        reason = _renewal_reason(cert_pem, key_pem, ca_cert_pem, (), renew_before_days, force)
        if reason is None and cert_pem is not None and _common_name(cert_pem) != user:
            reason = "issued to another role"
        if reason is None:
            tighten(key, KEY_MODE)
            return crt, key
        cert_pem, key_pem = issue_client_cert(ca_cert_pem, ca_key_pem, user=user, days=days)
        _save(crt, key, cert_pem, key_pem)
        return crt, key
