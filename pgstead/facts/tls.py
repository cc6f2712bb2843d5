"""Facts about the TLS files a server reads: what is installed, never the content itself."""

from __future__ import annotations

from dataclasses import dataclass

from pyinfra.api import FactBase, QuoteString, StringCommand

from pgstead.server.psql import Server, psql_query, when_ready

_MISSING = "-"


@dataclass(frozen=True)
class InstalledFile:
    sha256: str
    owner: str
    group: str
    mode: str  # octal text as stat prints it, e.g. "600"
    uid: str = ""
    gid: str = ""


class InstalledFiles(FactBase):
    """Digest, owner, group and mode of each path; a missing path maps to None.

    Only the SHA-256 leaves the host, so a private key is compared without being read back.
    """

    default = list

    def command(self, paths: tuple[str, ...]) -> StringCommand:
        # One line per path: "owner group mode uid gid digest -" (sha256sum names stdin "-"),
        # or "-".
        line = "echo \"$(stat -c '%U %G %a %u %g' \"$f\") $(sha256sum < \"$f\")\""
        bits: list[object] = ["for", "f", "in", *[QuoteString(p) for p in paths], ";", "do",
                              "if", "[", "-f", '"$f"', "];", "then", line, ";",
                              "else", "echo", _MISSING, ";", "fi;", "done"]
        return StringCommand(*bits)

    def process(self, output: list[str]) -> list[InstalledFile | None]:
        files: list[InstalledFile | None] = []
        for line in output:
            fields = line.split()
            if fields == [_MISSING]:
                files.append(None)
            elif len(fields) >= 6:
                owner, group, mode, uid, gid, digest = fields[:6]
                files.append(InstalledFile(digest, owner, group, mode, uid, gid))
        return files


class SslEnabled(FactBase):
    """Whether the server runs with ssl = on now; None while it is down or absent."""

    @staticmethod
    def default() -> None:
        return None

    def command(self, server: Server) -> StringCommand:
        return when_ready(server, psql_query(server, "SHOW ssl"))

    def process(self, output: list[str]) -> bool | None:
        value = "".join(output).strip()
        return None if value == "null" else value == "on"
