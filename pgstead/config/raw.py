"""Safe reads of a parsed document that may also have failed the schema.

Semantic checks run even when the schema found problems, so that one run reports every
fault; these helpers let them skip parts of the wrong shape instead of crashing.
"""

from __future__ import annotations

from collections.abc import Iterator


def section(document: object, *keys: str) -> dict:
    """The mapping at document[k1][k2]..., or {} when any step is missing or not a mapping."""
    node = document
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def entries(document: object, key: str) -> Iterator[tuple[int, dict]]:
    """(index, item) for the mapping items of the list document[key]."""
    items = document.get(key) if isinstance(document, dict) else None
    if isinstance(items, list):
        for index, item in enumerate(items):
            if isinstance(item, dict):
                yield index, item


def by_name(document: object, key: str) -> dict[str, dict]:
    """Items of the list document[key] by their name; the first wins (duplicates are errors)."""
    named: dict[str, dict] = {}
    for _, item in entries(document, key):
        name = item.get("name")
        if isinstance(name, str):
            named.setdefault(name, item)
    return named


def strings(value: object) -> Iterator[tuple[int, str]]:
    """(index, text) for the string items of a list."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                yield index, item


def text(mapping: dict, key: str) -> str | None:
    value = mapping.get(key)
    return value if isinstance(value, str) else None


def is_present(user: dict) -> bool:
    return user.get("state", "present") != "absent"


def tls_required(document: object) -> bool:
    """tls.require as the model will read it: it defaults to tls.enabled."""
    tls = section(document, "tls")
    enabled = tls.get("enabled", True) is not False
    return tls.get("require", enabled) is not False
