"""Controller-side PKI for TLS by default: the environment's CA and the certificates it signs.

Only the `cryptography` library is used; nothing shells out to openssl, and no private key is
ever printed or logged.

Imports: pgstead.postgres and pgstead.config; beside pgstead.render in the layout.
"""

from pgstead.pki.ca import ensure_ca
from pgstead.pki.certinfo import CertInfo, cert_info
from pgstead.pki.errors import PkiError
from pgstead.pki.issue import issue_client_cert, issue_server_cert
from pgstead.pki.renewal import needs_renewal
from pgstead.pki.sans import server_sans
from pgstead.pki.store import (
    client_cert_paths,
    ensure_client_cert,
    ensure_server_cert,
    server_cert_paths,
)

__all__ = [
    "CertInfo",
    "PkiError",
    "cert_info",
    "client_cert_paths",
    "ensure_ca",
    "ensure_client_cert",
    "ensure_server_cert",
    "issue_client_cert",
    "issue_server_cert",
    "needs_renewal",
    "server_cert_paths",
    "server_sans",
]
