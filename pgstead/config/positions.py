"""Parse YAML into plain data and remember the line of every node, keyed by its YAML path."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

PathKey = str | int
YamlPath = tuple[PathKey, ...]

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


# libyaml's parser when PyYAML was built with it: 10x faster on a 500-user file, same marks.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):
    """SafeLoader that keeps dates as text: valid_until and similar are strings in the model."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def format_path(path: YamlPath) -> str:
    """('users', 2, 'role') -> 'users[2].role'; keys that are not plain words are quoted."""
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif isinstance(part, str) and _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out


@dataclass
class Positions:
    """1-based lines of YAML nodes. A mapping entry is placed at its key's line."""

    lines: dict[YamlPath, int] = field(default_factory=dict)
    duplicates: list[tuple[YamlPath, int, int]] = field(default_factory=list)  # path, line, first

    def line_of(self, path: YamlPath) -> int | None:
        """Line of `path`, or of its nearest recorded ancestor (for a key that is missing)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


class YamlSyntaxError(Exception):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def parse_yaml(text: str) -> tuple[object, Positions]:
    """Plain data (dicts, lists, scalars) and node positions; raises YamlSyntaxError."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # Only the problem text, never the snippet: the line may hold a secret.
        message = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            message = f"{exc.context}: {exc.problem}"
        raise YamlSyntaxError(mark.line + 1 if mark else None, f"YAML syntax: {message}") from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(None, f"YAML syntax: {exc}") from exc
    finally:
        loader.dispose()
    positions = Positions()
    if node is not None:
        positions.lines[()] = node.start_mark.line + 1
        _record(node, (), positions)
    return data, positions


def _record(node: yaml.Node, path: YamlPath, positions: Positions) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                positions.duplicates.append(((*path, key), line, seen[key]))
                continue
            seen[key] = line
            positions.lines[(*path, key)] = line
            _record(value_node, (*path, key), positions)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            positions.lines[(*path, index)] = item.start_mark.line + 1
            _record(item, (*path, index), positions)
