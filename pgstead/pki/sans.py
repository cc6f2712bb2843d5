"""Subject alternative names: which names a host's certificate must carry, and their x509 form."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

from cryptography import x509

from pgstead.pki.errors import PkiError

# Labels of letters, digits, hyphens and underscores (some internal zones use them);
# a leading "*." wildcard is allowed for server_names.
_DNS_NAME = re.compile(
    r"^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$"
)
# listen_addresses values under which the server also answers on the loopback interface.
_LOOPBACK_LISTENERS = {"localhost", "127.0.0.1", "::1", "*", "0.0.0.0", "::"}
LOCALHOST_SANS = ("localhost", "127.0.0.1", "::1")


def _as_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = value.strip().strip("[]").split("%", 1)[0]  # drop brackets and an IPv6 zone
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def normalise_san(value: str) -> str | None:
    """The canonical text of a SAN (compressed IP, lower-case DNS name); None if neither."""
    ip = _as_ip(value)
    if ip is not None:
        return str(ip)
    name = value.strip().rstrip(".").lower()
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    if len(name) > 253 or not _DNS_NAME.match(name):
        return None
    return name


def server_sans(
    inventory_name: str,
    address: str | None,
    listen_addresses: Sequence[str],
    server_names: Sequence[str],
) -> list[str]:
    """The SANs of a host's server certificate, in a stable order and without duplicates.

    Inventory names and addresses that are not host names (pyinfra's `@local`, `@docker/...`)
    are left out; a server_name that is not a host name or address is an error in the file.
    """
    wanted: list[str] = []
    for candidate in (inventory_name, address):
        if candidate and (name := normalise_san(candidate)) is not None:
            wanted.append(name)
    if any(a.strip().lower() in _LOOPBACK_LISTENERS for a in listen_addresses):
        wanted.extend(LOCALHOST_SANS)
    for server_name in server_names:
        name = normalise_san(server_name)
        if name is None:
            raise PkiError(
                f"tls.server_names: {server_name!r} is neither a DNS name nor an IP address"
            )
        wanted.append(name)
    return list(dict.fromkeys(wanted))


def general_names(sans: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for san in sans:
        name = normalise_san(san)
        if name is None:
            raise PkiError(f"{san!r} cannot be a subject alternative name")
        ip = _as_ip(name)
        names.append(x509.IPAddress(ip) if ip is not None else x509.DNSName(name))
    return names


def sans_of(cert: x509.Certificate) -> tuple[str, ...]:
    """The DNS and IP SANs a certificate carries, as text, in certificate order."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    texts: list[str] = []
    for name in ext:
        if isinstance(name, x509.DNSName):
            texts.append(name.value.lower())
        elif isinstance(name, x509.IPAddress):
            texts.append(str(name.value))
    return tuple(texts)
