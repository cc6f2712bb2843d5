"""One fact over many paths: what each is, who owns it, its mode and its content digest."""

from __future__ import annotations

from dataclasses import dataclass

from pyinfra.api import FactBase, QuoteString, StringCommand

# stat and sha256sum for one path ($1); with a line ($2), whether the file holds it exactly.
STAT_ONE = (
    "s() { if [ -L \"$1\" ]; then echo link; "
    "elif [ -f \"$1\" ]; then l=-; if [ -n \"$2\" ]; then "
    "if grep -qxF -e \"$2\" \"$1\"; then l=yes; else l=no; fi; fi; "
    "echo \"file $(stat -c '%u:%g %U:%G %a' \"$1\") "
    "$(sha256sum < \"$1\" | cut -d' ' -f1) $l\"; "
    "elif [ -d \"$1\" ]; then echo \"dir $(stat -c '%u:%g %U:%G %a' \"$1\") - -\"; "
    "else echo missing; fi; };"
)


@dataclass(frozen=True)
class PathState:
    kind: str  # "file", "dir", "link" (never followed) or "missing"
    owner: str  # numeric uid:gid
    names: str  # user:group names, UNKNOWN for a number without a name
    mode: str  # octal as stat prints it, e.g. "600"
    sha256: str  # of a file's content; "" for a directory
    has_line: bool | None = None  # whether a file holds the line asked about; None if not asked


_ABSENT = {"link": PathState("link", "", "", "", ""),
           "missing": PathState("missing", "", "", "", "")}


class PathStates(FactBase):
    """The state of each path, in order, from one command (only the digest leaves the host, so
    a secret file is compared without being read back).

    + paths: the paths to look at
    + lines: for some of the paths, a line whose presence (the whole line) is reported too
    """

    default = list

    def command(self, paths: tuple[str, ...],
                lines: tuple[tuple[str, str], ...] = ()) -> StringCommand:
        wanted = dict(lines)
        calls: list[object] = []
        for path in paths:
            calls += ["s", QuoteString(path), QuoteString(wanted.get(path, "")), ";"]
        return StringCommand(STAT_ONE, *calls, "true")

    def process(self, output: list[str]) -> list[PathState]:
        states = []
        for line in output:
            fields = line.split()
            if len(fields) == 6 and fields[0] in ("file", "dir"):
                kind, owner, names, mode, sha, has = fields
                states.append(PathState(kind, owner, names, mode, "" if sha == "-" else sha,
                                        None if has == "-" else has == "yes"))
            else:
                states.append(_ABSENT.get(fields[0] if fields else "", _ABSENT["missing"]))
        return states
