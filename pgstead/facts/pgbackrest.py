"""What pgBackRest knows about one stanza, from `pgbackrest info --output=json`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pyinfra.api import FactBase, QuoteString, StringCommand


@dataclass(frozen=True)
class StanzaInfo:
    exists: bool  # the repository holds the stanza (stanza-create has run there)
    status: str  # pgBackRest's status message: "ok", "no valid backups", "missing stanza path"
    backups: list[dict[str, Any]] = field(default_factory=list)  # oldest first, as pgBackRest


def parse_info(text: str) -> StanzaInfo | None:
    """The one stanza of `info --stanza=S --output=json` output; None when there is none."""
    try:
        entries = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not entries:
        return None
    entry = entries[0]
    return StanzaInfo(exists=bool(entry.get("db")),
                      status=str(entry.get("status", {}).get("message", "")),
                      backups=list(entry.get("backup", [])))


def pgbackrest_command(stanza: str, *args: str) -> StringCommand:
    """`pgbackrest --stanza=S ARGS` as postgres, the owner pgBackRest must run as."""
    return StringCommand("runuser", "-u", "postgres", "--", "pgbackrest",
                         QuoteString(f"--stanza={stanza}"), *args)


class PgBackRestStanza(FactBase):
    """One stanza as seen in the repository at `repo_path` (the one the config will name, so a
    moved repository reads as "no stanza yet"); None where pgbackrest is not installed yet."""

    @staticmethod
    def default() -> None:
        return None

    def command(self, stanza: str, repo_path: str) -> StringCommand:
        info = pgbackrest_command(stanza, QuoteString(f"--repo1-path={repo_path}"),
                                  "--output=json", "info")
        return StringCommand("if", "command", "-v", "pgbackrest", ">/dev/null;", "then", info,
                             ";", "else", "echo", "null;", "fi")

    def process(self, output: list[str]) -> StanzaInfo | None:
        return parse_info("".join(output))


class PgBackRestStanzaRepos(FactBase):
    """{stanza: repo1-path} of each stanza file pgstead wrote in pgBackRest's include
    directory (known by its first line); other files there are the admin's and not read."""

    default = dict

    def command(self, conf_dir: str, written_by: str) -> StringCommand:
        program = ("FNR == 1 { ours = ($0 == mark) } "
                   "ours && /^repo1-path=/ { n = split(FILENAME, p, \"/\"); "
                   "print p[n] \"\\t\" substr($0, 12); nextfile }")
        return StringCommand("for", "f", "in", StringCommand(QuoteString(conf_dir), "/*.conf",
                                                             _separator=""), ";",
                             "do", "[", "-f", '"$f"', "]", "&&",
                             "awk", "-v", QuoteString(f"mark={written_by}"),
                             QuoteString(program), '"$f";', "done;", "true")

    def process(self, output: list[str]) -> dict[str, str]:
        repos = {}
        for line in output:
            name, _, repo = line.partition("\t")
            if name.endswith(".conf") and repo:
                repos[name[:-len(".conf")]] = repo
        return repos
