"""Check a parsed environment against schemas/environment.schema.json, in plain words.

jsonschema's own messages ("'x' is not one of [...]") are replaced by ones that say what was
expected and what was found, with "did you mean" hints for near misses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache

from jsonschema import Draft202012Validator, ValidationError

from pgstead import PROJECT_ROOT
from pgstead.config.positions import YamlPath
from pgstead.config.suggest import did_you_mean

SCHEMA_PATH = PROJECT_ROOT / "schemas" / "environment.schema.json"

_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing (null)",
}

_PATTERN_WORDS = {
    "^/": "an absolute path (starting with /)",
    "^[A-Za-z0-9][A-Za-z0-9_.-]*$": "a name of letters, digits, '_', '.' and '-'",
    "^[A-Za-z_][A-Za-z0-9_]*$": "an environment variable name",
}

# Values that are refused on purpose get a reason, not just the list of allowed ones.
_ENUM_HINTS = {
    ("method", "md5"): "pgstead uses SCRAM only: md5 hashes are weak; use scram-sha-256",
    ("method", "password"): "pgstead uses SCRAM only: password sends clear text; use scram-sha-256",
    ("attributes", "superuser"): "superuser is never granted to application users",
}

_BARE_PASSWORD_HINT = (
    "a password cannot be a bare string (it would sit in this file in clear text); write "
    "{env: VAR}, {file: path} or {generate: true}, or {value: ...} with "
    "security.allow_literal_passwords: true"
)


@cache
def environment_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(environment_schema())


def schema_problems(document: object) -> Iterator[tuple[YamlPath, str]]:
    """(path, message) for every place `document` breaks the schema."""
    for error in _validator().iter_errors(document):
        yield from _explain(error)


def _explain(error: ValidationError) -> Iterator[tuple[YamlPath, str]]:
    path: YamlPath = tuple(error.absolute_path)
    value = error.instance
    kind = error.validator
    secret = "password" in path
    if kind == "additionalProperties":
        known = list(error.schema.get("properties", {}))
        for key in value:
            if key not in known:
                yield (*path, key), _unknown_key(str(key), known)
    elif kind == "required":
        for key in error.validator_value:
            if key not in value:
                yield path, f"missing required key {key!r}"
    elif kind in ("oneOf", "anyOf"):
        yield from _explain_alternatives(error, path)
    elif kind == "type":
        message = f"expected {_expected_types(error.validator_value)}, got {_shown(value, secret)}"
        if value is None:
            message = f"has no value; expected {_expected_types(error.validator_value)}"
        if isinstance(value, bool) and "string" in _as_list(error.validator_value):
            message += " (YAML reads yes/no/on/off as booleans: quote the value)"
        yield path, message
    elif kind == "enum":
        yield path, _enum_message(path, value, error.validator_value)
    elif kind == "const":
        yield path, f"expected {error.validator_value!r}, got {_shown(value, secret)}"
    elif kind in ("minimum", "exclusiveMinimum"):
        yield path, f"expected at least {error.validator_value}, got {value!r}"
    elif kind in ("maximum", "exclusiveMaximum"):
        yield path, f"expected at most {error.validator_value}, got {value!r}"
    elif kind == "minLength":
        yield path, "must not be empty"
    elif kind == "minItems":
        yield path, f"expected at least {error.validator_value} item(s)"
    elif kind == "uniqueItems":
        yield path, "lists the same item more than once"
    elif kind == "pattern":
        words = _PATTERN_WORDS.get(error.validator_value, f"text matching {error.validator_value}")
        yield path, f"expected {words}, got {_shown(value, secret)}"
    else:
        yield path, error.message


def _explain_alternatives(error: ValidationError, path: YamlPath) -> Iterator[tuple[YamlPath, str]]:
    """A oneOf/anyOf failure: report inside the one branch the value was clearly meant for."""
    branches = error.validator_value
    value = error.instance
    meant = [i for i, branch in enumerate(branches) if _meant_for(branch, value)]
    if len(meant) == 1:
        inner = [e for e in error.context if e.relative_schema_path[0] == meant[0]]
        if inner:
            for sub in inner:
                yield from _explain(sub)
            return
    if path and path[-1] == "password" and isinstance(value, str):
        yield path, _BARE_PASSWORD_HINT
        return
    choices = " or ".join(b.get("title", _expected_types(b.get("type"))) for b in branches)
    if len(meant) > 1:
        yield path, f"expected exactly one of {choices}; got several at once"
        return
    yield path, f"expected {choices}; got {_shown(value, 'password' in path)}"


def _meant_for(branch: dict, value: object) -> bool:
    """Whether a container value was written for this branch (scalars never are: too vague)."""
    if isinstance(value, dict):
        required = branch.get("required", [])
        return branch.get("type") == "object" and bool(required) and all(
            k in value for k in required)
    if isinstance(value, list):
        return branch.get("type") == "array"
    return False


def _unknown_key(key: str, known: list[str]) -> str:
    hint = did_you_mean(key, known)
    if hint:
        return f"unknown key {key!r}{hint}"
    return f"unknown key {key!r}; expected one of {', '.join(known)}" if known else (
        f"unknown key {key!r}")


def _enum_message(path: YamlPath, value: object, allowed: list) -> str:
    field = next((p for p in reversed(path) if isinstance(p, str)), "")
    hint = _ENUM_HINTS.get((field, value)) if isinstance(value, str) else None
    if hint:
        return f"{value!r} is refused: {hint}"
    listed = ", ".join(str(a) for a in allowed)
    close = did_you_mean(value, [str(a) for a in allowed]) if isinstance(value, str) else ""
    return f"expected one of {listed}; got {value!r}{close}"


def _as_list(types: object) -> list:
    return types if isinstance(types, list) else [types]


def _expected_types(types: object) -> str:
    words = [_TYPE_WORDS.get(t, str(t)) for t in _as_list(types)]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _shown(value: object, secret: bool) -> str:
    """How a wrong value is shown: scalars as written, containers by kind, secrets never."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if secret and isinstance(value, str):
        return "a string"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)
