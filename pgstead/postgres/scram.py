"""SCRAM-SHA-256 password verifiers, computed on the controller (RFC 5802 / RFC 7677).

PostgreSQL stores `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64 parts)
in pg_authid.rolpassword. Sending it that verifier instead of the password means the plain
password never leaves the controller.

PostgreSQL normalises the password with SASLprep before hashing; this module hashes the
UTF-8 bytes as they are. The two agree for every ASCII password (what `generate` makes) and
for any password SASLprep leaves unchanged; a password that SASLprep would rewrite (for
example one holding a non-breaking space) would be stored unnormalised and could not log in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

ITERATIONS = 4096
SALT_BYTES = 16
PREFIX = "SCRAM-SHA-256"


@dataclass(frozen=True)
class ScramVerifier:
    iterations: int
    salt: bytes
    stored_key: bytes
    server_key: bytes

    def __str__(self) -> str:
        def b64(raw: bytes) -> str:
            return base64.b64encode(raw).decode("ascii")

        return (f"{PREFIX}${self.iterations}:{b64(self.salt)}"
                f"${b64(self.stored_key)}:{b64(self.server_key)}")


def compute(password: str, *, salt: bytes | None = None,
            iterations: int = ITERATIONS) -> ScramVerifier:
    """The verifier of `password`; a fresh random salt unless one is given."""
    if salt is None:
        salt = os.urandom(SALT_BYTES)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return ScramVerifier(iterations, salt, hashlib.sha256(client_key).digest(), server_key)


def scram_verifier(password: str) -> str:
    """A new verifier for `password` in PostgreSQL's text form, with a random salt."""
    return str(compute(password))


def parse(verifier: str) -> ScramVerifier | None:
    """The parts of a stored verifier, or None if it is not SCRAM-SHA-256 (md5, plain, junk)."""
    try:
        prefix, params, keys = verifier.split("$")
        iterations, salt = params.split(":")
        stored_key, server_key = keys.split(":")
        if prefix != PREFIX:
            return None
        return ScramVerifier(int(iterations), base64.b64decode(salt, validate=True),
                             base64.b64decode(stored_key, validate=True),
                             base64.b64decode(server_key, validate=True))
    except ValueError:
        return None


def verifies(verifier: str, password: str) -> bool:
    """Whether `password` is the one `verifier` was made from (same salt and iterations)."""
    parsed = parse(verifier)
    if parsed is None:
        return False
    again = compute(password, salt=parsed.salt, iterations=parsed.iterations)
    return (hmac.compare_digest(again.stored_key, parsed.stored_key)
            and hmac.compare_digest(again.server_key, parsed.server_key))
