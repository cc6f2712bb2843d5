"""The TLS files a server reads, installed from the controller, and the reload that uses them.

File content travels on stdin only: a private key never appears on a command line, in a plan,
or in a diff. Installed files are compared by SHA-256, so a converged host changes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation

from pgstead.desired.settings import TLS_FILES
from pgstead.facts.tls import InstalledFile, InstalledFiles, SslEnabled
from pgstead.operations.owner import file_owner
from pgstead.operations.plan_notes import plan_note
from pgstead.server.psql import Server, psql_commands, when_ready

CERT_MODE = "644"
KEY_MODE = "600"


@dataclass(frozen=True)
class TlsFile:
    path: str
    content: str
    mode: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest()


def _text(pem: bytes) -> str:
    # pyinfra ends stdin with a newline when the text lacks one; the digest must match that.
    text = pem.decode("ascii")
    return text if text.endswith("\n") else text + "\n"


def tls_files(server: Server, cert_pem: bytes, key_pem: bytes, ca_pem: bytes) -> list[TlsFile]:
    """Where the server's certificate, key and CA go: the paths `tls_settings` points at."""
    base = server.config_dir
    return [
        TlsFile(f"{base}/{TLS_FILES['cert']}", _text(cert_pem), CERT_MODE),
        TlsFile(f"{base}/{TLS_FILES['key']}", _text(key_pem), KEY_MODE),
        TlsFile(f"{base}/{TLS_FILES['ca']}", _text(ca_pem), CERT_MODE),
    ]


def _write_all(files: list[TlsFile], user: str, group: str) -> StringCommand:
    """Replace `files` (all in one directory) together: every one is staged first in a private
    directory made by mktemp beside them (never followed through a planted link), with its
    owner and mode, and only then are they renamed into place. A failure while staging leaves
    the installed set untouched, so a certificate never ends up beside a key of another pair.

    The contents arrive one after another on stdin; `head -c` takes each one's length.
    """
    directory = files[0].path.rsplit("/", 1)[0]
    staged = [f'"$tmp/{i}"' for i in range(len(files))]
    bits: list[object] = [
        "tmp=$(mktemp", "-d", StringCommand(QuoteString(directory), "/.pgstead-tls.XXXXXX",
                                            _separator=""), ")", "||", "exit", "1;", "{", "true",
    ]
    for file, tmp in zip(files, staged, strict=True):
        bits += ["&&", "head", "-c", str(len(file.content.encode())), ">" + tmp,
                 "&&", "chown", QuoteString(f"{user}:{group}"), tmp,
                 "&&", "chmod", file.mode, tmp]
    for file, tmp in zip(files, staged, strict=True):
        bits += ["&&", "mv", "-f", tmp, QuoteString(file.path)]
    bits += [";", "}", ";", "rc=$?;", "rm", "-rf", '"$tmp";', "exit", '"$rc"']
    return StringCommand(*bits, _stdin="".join(f.content for f in files))


def _fix_ownership(file: TlsFile, user: str, group: str) -> StringCommand:
    path = QuoteString(file.path)
    return StringCommand("chown", QuoteString(f"{user}:{group}"), path, "&&",
                         "chmod", file.mode, path)


@operation()
def certificates(server: Server, cert_pem: bytes, key_pem: bytes, ca_pem: bytes,
                 user: str | None = None, group: str | None = None):
    """
    Ensure the server's certificate, key (0600) and CA are installed in its config directory,
    and reload a running TLS server after any of them changed.

    + server: the `Server` whose ``config_dir`` receives server.crt, server.key and root.crt
    + cert_pem: the server certificate (PEM)
    + key_pem: its private key (PEM); sent on stdin, never shown
    + ca_pem: the CA that signs server and client certificates (root.crt)
    + user, group: owner of the three files (default: ``file_owner(server)``); the server
      refuses a key others can read

    Changed files are staged beside the old ones and renamed in together. A reload (never a
    restart) makes new connections use them; open connections keep theirs. When ssl is not
    on yet, the settings role's reload that turns it on reads them.
    Always give this operation a ``name=``: pyinfra prints the arguments of unnamed ones.

    **Example:**

    .. code:: python

        tls.certificates(name="TLS files of 15/main", server=Server(15, "main", 5432),
                         cert_pem=cert, key_pem=key, ca_pem=ca)
    """
    # Paths as the server reads them, written where they live on the host (a container's
    # mounted config directory), owned by the server's postgres user (numeric in a container).
    wanted = [replace(f, path=server.host_path(f.path))
              for f in tls_files(server, cert_pem, key_pem, ca_pem)]
    if user is None or group is None:
        user, group = file_owner(server).split(":")
    installed = host.get_fact(InstalledFiles, paths=tuple(f.path for f in wanted))
    installed = [*installed, *[None] * (len(wanted) - len(installed))]

    replaced = [f for f, live in zip(wanted, installed, strict=True)
                if live is None or live.sha256 != f.sha256]
    retouched = [f for f, live in zip(wanted, installed, strict=True)
                 if f not in replaced and not _owned(live, user, group, f.mode)]
    if not replaced and not retouched:
        host.noop(f"{server}: TLS files already installed")
        return
    ssl_on = bool(replaced) and host.get_fact(SslEnabled, server=server)
    plan_note(server, *(f"{file.path}: new content" + (" (reload)" if ssl_on else "")
                        for file in replaced),
              *(f"{file.path}: owner or mode" for file in retouched))

    if replaced:
        yield _write_all(replaced, user, group)
    for file in retouched:
        yield _fix_ownership(file, user, group)
    if ssl_on:
        # A running server read the old files at start or last reload; only a reload swaps them.
        reload = psql_commands(server, ["SELECT pg_reload_conf()"])
        yield when_ready(server, reload, otherwise="not running: no reload needed")


def _owned(live: InstalledFile, user: str, group: str, mode: str) -> bool:
    # A container's owner is numeric: the host may name that uid differently, or not at all.
    return (user in (live.owner, live.uid) and group in (live.group, live.gid)
            and live.mode == mode)
