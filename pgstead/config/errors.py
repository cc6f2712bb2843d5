"""Problems of a bad environment file (file, YAML path, line), and where local state lives."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    file: str
    path: str  # YAML path such as users[2].role; "" for the whole file
    line: int | None  # 1-based line of the node, when known
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    """An environment file that cannot be used; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def state_dir_for(source: Path, name: str) -> Path:
    """Controller-side state (secrets, PKI) of environment `name`, created 0700.

    $PGSTEAD_STATE_DIR/<name> when that variable is set, else <dir of the YAML>/.pgstead/<name>.
    """
    path = state_dir_path(source, name)
    make_private_dir(path)
    return path


def state_dir_path(source: Path, name: str) -> Path:
    """Where state_dir_for puts the state, without creating anything."""
    root = os.environ.get("PGSTEAD_STATE_DIR")
    base = Path(root) if root else Path(source).resolve().parent / ".pgstead"
    return base / name


def make_private_dir(path: Path) -> None:
    """Create `path` and any missing parents as 0700; an existing `path` is tightened to 0700."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=0o700)
        # mkdir's mode is filtered by the umask; set it outright.
        directory.chmod(0o700)
    path.chmod(0o700)
