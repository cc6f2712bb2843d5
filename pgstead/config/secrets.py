"""Resolve the secrets an environment file refers to: passwords from env, files or generation.

Generated passwords are made once on the controller and kept 0600 under the environment's
0700 state directory, so every later run reuses the same value.
"""

from __future__ import annotations

import os
import secrets
import string
from pathlib import Path

from pgstead.config.errors import make_private_dir
from pgstead.config.secret import Secret

GENERATED_LENGTH = 32
# 64 URL-safe symbols: 6 bits per character, and nothing a shell, URL or libpq string mangles.
_ALPHABET = string.ascii_letters + string.digits + "-_"


class SecretError(Exception):
    """A secret that cannot be read; the message names where it was looked for, never a value."""


def resolve_relative(path_text: str, base_dir: Path) -> Path:
    """A path written in the YAML: absolute, ~-relative, or relative to the YAML's directory."""
    path = Path(path_text).expanduser()
    return path if path.is_absolute() else base_dir / path


def generated_password_path(state_dir: Path, user: str) -> Path:
    return state_dir / "secrets" / f"{user}.password"


def password_source(spec: dict, *, user: str) -> str:
    """Where a password comes from, safe to print: env:VAR, file:path, generated:user, literal."""
    if "env" in spec:
        return f"env:{spec['env']}"
    if "file" in spec:
        return f"file:{spec['file']}"
    if "generate" in spec:
        return f"generated:{user}"
    return "literal"


def resolve_password(spec: dict, *, user: str, base_dir: Path, state_dir: Path,
                     create: bool = True) -> Secret:
    """The password `spec` names. With create=False a missing generated one stays empty."""
    source = password_source(spec, user=user)
    if "env" in spec:
        value = os.environ.get(spec["env"], "")
        if not value:
            raise SecretError(f"environment variable {spec['env']} is not set or empty")
        return Secret(value, source)
    if "file" in spec:
        return Secret(read_secret_file(resolve_relative(spec["file"], base_dir)), source)
    if "generate" in spec:
        path = generated_password_path(state_dir, user)
        if path.exists():
            return Secret(read_secret_file(path), source)
        if not create:
            return Secret("", source)
        return Secret(_generate(path, spec.get("length", GENERATED_LENGTH)), source)
    return Secret(spec["value"], source)


def read_secret_file(path: Path) -> str:
    """File content less one trailing newline (editors add one); empty is an error."""
    try:
        content = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SecretError(f"secret file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"secret file {path} cannot be read: {exc.__class__.__name__}") from None
    if content.endswith("\r\n"):
        content = content[:-2]
    elif content.endswith("\n"):
        content = content[:-1]
    if not content:
        raise SecretError(f"secret file {path} is empty")
    return content


def check_readable(path: Path) -> str | None:
    """Why a certificate or key file cannot be used, or None."""
    if not path.is_file():
        return f"file {path} does not exist"
    if not os.access(path, os.R_OK):
        return f"file {path} is not readable"
    return None


def random_password(length: int) -> str:
    """`length` characters of `_ALPHABET`, with at least one letter and one non-letter.

    The hardening baseline's passwordcheck refuses a plaintext password without both, and
    Patroni creates its replication and rewind users from plaintext ones: one generated
    password in about 770 was letters only, and the cluster's bootstrap then failed again
    and again. Drawing again keeps every accepted password equally likely.
    """
    while True:
        value = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if any(c.isalpha() for c in value) and not value.isalpha():
            return value


def _generate(path: Path, length: int) -> str:
    make_private_dir(path.parent)
    value = random_password(length)
    try:
        # O_EXCL: of two runs racing, the second must read the first one's password.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_secret_file(path)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(value + "\n")
    return value
