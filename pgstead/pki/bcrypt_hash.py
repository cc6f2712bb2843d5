"""bcrypt hashes for the exporter's basic auth (Prometheus' web config takes only bcrypt).

The salt is derived from the password and a label (HMAC-SHA256), so the same password gives
the same hash on every run and the web config changes only when the password does; the salt
is still unique per environment, and without the password it says nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import warnings

with warnings.catch_warnings():  # the crypt module is deprecated, libxcrypt's bcrypt is not
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt

_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
# The 22nd salt character carries only 2 bits: bcrypt's canonical ones.
_LAST = ".Oeu"
COST = 10


def bcrypt_hash(password: str, label: str) -> str:
    digest = hmac.new(password.encode(), f"pgstead bcrypt salt {label}".encode(),
                      hashlib.sha256).digest()
    salt = "".join(_ALPHABET[b % 64] for b in digest[:21]) + _LAST[digest[21] % 4]
    hashed = crypt.crypt(password, f"$2b${COST:02d}${salt}")
    if not hashed or not hashed.startswith("$2b$"):
        raise RuntimeError("this controller's crypt() has no bcrypt")
    return hashed


def bcrypt_verifies(hashed: str, password: str) -> bool:
    return hmac.compare_digest(crypt.crypt(password, hashed) or "", hashed)
