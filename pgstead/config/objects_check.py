"""Semantic checks of databases and users: valid names, no duplicates, references that resolve."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

from pgstead.config.findings import Findings
from pgstead.config.identifiers import identifier_problem
from pgstead.config.positions import YamlPath
from pgstead.config.raw import by_name, entries, is_present, section, strings, text

# Roles every cluster has, which a file may name as an owner without declaring them.
BUILTIN_OWNERS = {"postgres"}


def check_databases(document: dict, findings: Findings) -> None:
    users = by_name(document, "users")
    for at, db in _named_entries(document, "databases", "database", findings):
        _check_name_list(db.get("schemas"), (*at, "schemas"), "schema", findings)
        _check_name_list(db.get("extensions"), (*at, "extensions"), "extension", findings,
                         allow_pg_prefix=True)
        owner = text(db, "owner")
        if owner is None or owner in BUILTIN_OWNERS:
            continue
        user = users.get(owner)
        if user is None:
            findings.error((*at, "owner"), f"owner {owner!r} is not declared in users "
                           "(declare it with role: owner, or use postgres)")
        elif not is_present(user):
            findings.error((*at, "owner"), f"owner {owner!r} is declared with state: absent")
        elif user.get("role") != "owner":
            findings.error((*at, "owner"), f"owner {owner!r} has role {user.get('role')!r}; "
                           "a database owner must have role: owner")


def check_users(document: dict, findings: Findings) -> None:
    databases = by_name(document, "databases")
    literal_ok = section(document, "security").get("allow_literal_passwords") is True
    tls_on = section(document, "tls").get("enabled", True) is not False
    for at, user in _named_entries(document, "users", "user", findings):
        if not is_present(user):
            continue
        _check_name_list(user.get("schemas"), (*at, "schemas"), "schema", findings)
        _check_database_ref(user, databases, at, findings)
        _check_password(user, at, findings, literal_ok=literal_ok)
        if user.get("auth") == "cert" and not tls_on:
            findings.error((*at, "auth"), "auth: cert needs TLS, but tls.enabled is false")
        valid_until = text(user, "valid_until")
        if valid_until is not None and not _is_timestamp(valid_until):
            findings.error((*at, "valid_until"), "expected a timestamp such as 2027-01-31 or "
                           f"2027-01-31T00:00:00Z, or infinity; got {valid_until!r}")


def _check_database_ref(user: dict, databases: dict[str, dict], at: YamlPath,
                        findings: Findings) -> None:
    name = text(user, "database")
    if name is None:
        return
    db = databases.get(name)
    if db is None:
        findings.error((*at, "database"), f"database {name!r} is not declared in databases")
        return
    declared = {s for _, s in strings(db.get("schemas"))} | {"public"}
    for index, schema in strings(user.get("schemas")):
        if schema not in declared:
            findings.error((*at, "schemas", index), f"schema {schema!r} is not a schema of "
                           f"database {name!r} (it has {', '.join(sorted(declared))})")


def _check_password(user: dict, at: YamlPath, findings: Findings, *, literal_ok: bool) -> None:
    password = user.get("password")
    if user.get("auth", "password") == "cert":
        if password is not None:
            findings.error((*at, "password"), "auth: cert users log in with a client "
                           "certificate and take no password")
        return
    if password is None:
        findings.error(at, "missing required key 'password' (auth: password needs one, "
                       "e.g. password: {generate: true})")
    elif isinstance(password, dict) and "value" in password and not literal_ok:
        findings.error((*at, "password"), "a literal password sits in this file in clear "
                       "text; use {env: VAR}, {file: path} or {generate: true}, or set "
                       "security.allow_literal_passwords: true to permit it")


def _named_entries(document: dict, key: str, kind: str,
                   findings: Findings) -> Iterator[tuple[YamlPath, dict]]:
    """(path, item) of the list `key`, each item's name checked as an identifier and unique."""
    seen: dict[str, YamlPath] = {}
    for index, item in entries(document, key):
        at = (key, index)
        name = text(item, "name")
        if name is not None:
            problem = identifier_problem(name)
            if problem:
                findings.error((*at, "name"), problem)
            _no_duplicate(name, kind, (*at, "name"), seen, findings)
        yield at, item


def _check_name_list(value: object, at: YamlPath, kind: str, findings: Findings, *,
                     allow_pg_prefix: bool = False) -> None:
    seen: dict[str, YamlPath] = {}
    for index, name in strings(value):
        problem = identifier_problem(name, allow_pg_prefix=allow_pg_prefix)
        if problem:
            findings.error((*at, index), problem)
        _no_duplicate(name, kind, (*at, index), seen, findings)


def _no_duplicate(name: str, kind: str, at: YamlPath, seen: dict[str, YamlPath],
                  findings: Findings) -> None:
    first = seen.setdefault(name, at)
    if first != at:
        line = findings.positions.line_of(first)
        where = f" (first at line {line})" if line else ""
        findings.error(at, f"{kind} {name!r} is declared twice{where}")



def _is_timestamp(value: str) -> bool:
    if value == "infinity":
        return True
    try:
        datetime.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True
