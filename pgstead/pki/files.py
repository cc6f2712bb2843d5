"""Controller-side files of the PKI: private directories, atomic writes, and one lock.

Keys must never be readable by anyone else, not even for an instant, so every file is born
under its final mode in a temporary name and renamed into place.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

KEY_MODE = 0o600
CERT_MODE = 0o644
DIR_MODE = 0o700
LOCK_NAME = ".lock"

# pyinfra runs hosts as greenlets of one process; a file lock does not exclude those from each
# other reliably, so the process-wide lock comes first and the file lock covers other processes.
_process_lock = threading.Lock()


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) as 0700, tightening it if it already exists."""
    for missing in reversed([p for p in (path, *path.parents) if not p.exists()]):
        missing.mkdir(mode=DIR_MODE, exist_ok=True)
    if path.stat().st_mode & 0o777 != DIR_MODE:
        path.chmod(DIR_MODE)
    return path


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Replace `path` with `data`; readers see the old file or the new one, never a torn one."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            # The umask may have narrowed the mode; set it exactly, still before any data exists.
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def read_if_exists(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def tighten(path: Path, mode: int) -> None:
    """Narrow a file we own to `mode` if a previous hand left it more open."""
    if path.exists() and path.stat().st_mode & 0o777 & ~mode:
        path.chmod(mode)


@contextlib.contextmanager
def pki_lock(pki_dir: Path) -> Iterator[None]:
    """Hold the PKI directory exclusively: one writer across greenlets, threads and processes."""
    private_dir(pki_dir)
    with _process_lock:
        fd = os.open(pki_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, KEY_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
