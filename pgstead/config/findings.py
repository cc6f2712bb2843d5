"""Collects errors and warnings against YAML paths, turning them into located Problems."""

from __future__ import annotations

from dataclasses import dataclass, field

from pgstead.config.errors import Problem
from pgstead.config.positions import Positions, YamlPath, format_path


@dataclass
class Findings:
    file: str
    positions: Positions = field(default_factory=Positions)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def error(self, path: YamlPath, message: str, line: int | None = None) -> None:
        """Record an error at `path`; `line` overrides the line recorded for that path."""
        self._add(self.errors, path, message, line)

    def warning(self, path: YamlPath, message: str) -> None:
        self._add(self.warnings, path, message, None)

    def _add(self, into: list[Problem], path: YamlPath, message: str, line: int | None) -> None:
        line = line if line is not None else self.positions.line_of(path)
        problem = Problem(self.file, format_path(path), line, message)
        # Several checks may see the same fault (e.g. one per missing key of a oneOf branch).
        if problem not in into:
            into.append(problem)


def in_file_order(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.line or 0, p.path))
