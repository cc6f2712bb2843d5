"""A host's server key encrypted at rest (hardening strict), kept on the controller.

The host receives the key encrypted with a passphrase of its own; the server decrypts it with
ssl_passphrase_command. Encryption is randomised (salt, IV), so the encrypted copy is made once
and kept beside the plain one: the same bytes go to the host on every run until the key itself
changes (renewal), which keeps a converged host unchanged.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from pgstead.pki.errors import PkiError
from pgstead.pki.files import KEY_MODE, pki_lock, private_dir, read_if_exists, write_atomic
from pgstead.pki.pem import load_private_key
from pgstead.pki.store import HOSTS_DIR, server_cert_paths

PASSPHRASE_BYTES = 32  # token_urlsafe: 43 characters, 256 bits


def encrypted_key_paths(pki_dir: Path, host_name: str) -> tuple[Path, Path]:
    """(passphrase, encrypted key) files of a host on the controller, both 0600."""
    _, key = server_cert_paths(pki_dir, host_name)
    return key.with_suffix(".passphrase"), key.with_suffix(".key.encrypted")


def _plain(key_pem: bytes, password: bytes | None = None) -> bytes:
    """The key as unencrypted PKCS#8 DER, to compare two copies of one key."""
    try:
        key = serialization.load_pem_private_key(key_pem, password=password)
    except (TypeError, ValueError) as error:
        raise PkiError(f"cannot read the key ({type(error).__name__})") from None
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def ensure_encrypted_key(pki_dir: Path, host_name: str, key_pem: bytes) -> tuple[bytes, str]:
    """(encrypted key PEM, passphrase) for `key_pem`: the kept copy while it still holds that
    key under the kept passphrase, else a fresh encryption. The passphrase stays the host's
    across renewals, so a rotated key reloads with the passphrase file the host has."""
    passphrase_path, encrypted_path = encrypted_key_paths(pki_dir, host_name)
    with pki_lock(pki_dir):
        private_dir(pki_dir / HOSTS_DIR)
        stored = read_if_exists(passphrase_path)
        if stored is None:
            passphrase = secrets.token_urlsafe(PASSPHRASE_BYTES)
            write_atomic(passphrase_path, passphrase.encode() + b"\n", KEY_MODE)
        else:
            passphrase = stored.decode().strip()
        wanted = _plain(key_pem)
        kept = read_if_exists(encrypted_path)
        if kept is not None:
            try:
                if _plain(kept, passphrase.encode()) == wanted:
                    return kept, passphrase
            except PkiError:
                pass  # another passphrase or a damaged copy: encrypt again
        key = load_private_key(key_pem)
        encrypted = key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.BestAvailableEncryption(passphrase.encode()))
        write_atomic(encrypted_path, encrypted, KEY_MODE)
        return encrypted, passphrase
