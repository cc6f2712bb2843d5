"""One database's access state as it stands on a server: owner, schemas, privileges. Plain data.

The PgDatabaseAccess fact fills these in; the grants planner compares them with what the
environment wants.
"""

from __future__ import annotations

from dataclasses import dataclass

# Privileges as (grantee, privilege); grantee "" is PUBLIC.
Acl = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class LiveSchema:
    name: str
    owner: str
    acl: Acl


@dataclass(frozen=True)
class LiveRelation:
    schema: str
    name: str
    kind: str  # table (tables, views, materialised and foreign tables) | sequence
    acl: Acl


@dataclass(frozen=True)
class LiveDefaultAcl:
    owner: str  # the role whose new objects get these privileges
    schema: str | None  # None: database-wide
    kind: str  # tables | sequences | functions | types | schemas
    acl: Acl


@dataclass(frozen=True)
class LiveDatabase:
    owner: str
    acl: Acl
    schemas: dict[str, LiveSchema]
    extensions: dict[str, str]  # extension -> schema it lives in
    relations: tuple[LiveRelation, ...] = ()
    default_acls: tuple[LiveDefaultAcl, ...] = ()
