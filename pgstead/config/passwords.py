"""The controller-side password check: declared secrets that are easy to guess are refused.

Runs when the environment file is loaded, before any host is touched. A password is weak
when it is shorter than MIN_LENGTH, is the user name, is a common password (the list
in pgstead/data/common-passwords.txt) or one padded with digits and symbols, or is built from
very few distinct characters. Generated passwords (32 random characters) always pass.
Messages never include the password.
"""

from __future__ import annotations

import re
from functools import cache

from pgstead import PROJECT_ROOT

MIN_LENGTH = 16
MIN_DISTINCT = 6
COMMON_PASSWORDS = PROJECT_ROOT / "pgstead" / "data" / "common-passwords.txt"
# Digits, symbols and whitespace people pad a common word with to pass a length rule.
_PADDING = re.compile(r"^[\W\d_]*(?P<core>.*?)[\W\d_]*$")


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def _core(password: str) -> str:
    match = _PADDING.match(password.lower())
    return match["core"] if match else password.lower()


def weak_password_reason(password: str, *, user: str) -> str | None:
    """Why `password` is too weak for `user`, in words that do not reveal it; None if fine."""
    lowered = password.lower()
    if len(password) < MIN_LENGTH:
        return f"the password is shorter than {MIN_LENGTH} characters"
    if user and user.lower() == lowered:
        return "the password is the user name"
    if len(set(lowered)) < MIN_DISTINCT:
        return f"the password uses fewer than {MIN_DISTINCT} different characters"
    common = common_passwords()
    core = _core(password)
    # A common word repeated to reach the length (passwordpassword) counts as that word.
    if lowered in common or core in common or _repeats_common(core, common):
        return "the password is a common password (or one padded with digits or symbols)"
    return None


def _repeats_common(core: str, common: frozenset[str]) -> bool:
    for size in range(1, len(core) // 2 + 1):
        if len(core) % size == 0 and core[:size] * (len(core) // size) == core:
            return core[:size] in common or len(set(core[:size])) < MIN_DISTINCT
    return False


def check_enforced(document: dict) -> bool:
    """Whether the file's hardening asks for the check (not level off, passwordcheck kept)."""
    hardening = document.get("hardening") if isinstance(document, dict) else None
    if not isinstance(hardening, dict):
        return True
    if hardening.get("level") == "off":
        return False
    opt_out = hardening.get("opt_out")
    opted = {item.get("control") for item in opt_out if isinstance(item, dict)} if isinstance(
        opt_out, list) else set()
    return "passwordcheck" not in opted
