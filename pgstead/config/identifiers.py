"""Rules for names that become PostgreSQL identifiers (databases, users, schemas, extensions)."""

from __future__ import annotations

import re
import unicodedata

MAX_IDENTIFIER_BYTES = 63  # NAMEDATALEN - 1

# Letters (any script), digits, _, $ and -; the names are always quoted when they reach SQL.
_ALLOWED = re.compile(r"^[\w$-]+$")


def identifier_problem(name: str, *, allow_pg_prefix: bool = False) -> str | None:
    """Why `name` cannot be a managed object's name, or None when it can."""
    if not name:
        return "must not be empty"
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return "contains a control character"
    if any(ch in "\"'`" for ch in name):
        return f"{name!r} contains a quote character"
    size = len(name.encode("utf-8"))
    if size > MAX_IDENTIFIER_BYTES:
        return (f"{name!r} is {size} bytes long; PostgreSQL truncates names to "
                f"{MAX_IDENTIFIER_BYTES} bytes")
    if not _ALLOWED.match(name):
        return f"{name!r} may contain only letters, digits, '_', '$' and '-'"
    if not allow_pg_prefix and name.lower().startswith("pg_"):
        return f"{name!r} starts with 'pg_', which PostgreSQL reserves for system objects"
    return None
