"""Which statements make one database's ownership and privileges match the file. Pure.

The access model:
- the database owner owns the app's schemas and so alone can create objects in them;
- `readwrite` users get USAGE on their schemas, SELECT/INSERT/UPDATE/DELETE on every table
  and USAGE/SELECT/UPDATE on every sequence there, now and (through default privileges for
  the owner's new objects) later;
- `readonly` users get USAGE on their schemas and SELECT on tables and sequences, likewise;
- CONNECT on the database goes only to its declared users; PUBLIC keeps nothing on it, and
  keeps only USAGE (never CREATE) on schema public, or nothing there either when `lock_public`
  (the hardening control public_schema_usage): then each declared user of the database gets
  USAGE on public, so the extensions installed there keep working for them alone.

Managed are the declared users (of any database) and, for the database and its schemas,
PUBLIC. Privileges a managed user holds beyond the model on the database, its managed schemas,
their tables and sequences, or default privileges there, are revoked. The database owner's own
privileges and grants to roles the file does not declare are left alone, and so are the
relations an extension made (the fact does not list them): their privileges are the
extension's (pg_stat_statements gives PUBLIC SELECT on its views), and a readwrite user has
no business writing to them.

A `live` of None means the database does not exist yet: the plan is made against a freshly
created one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from psycopg import sql

from pgstead.config.model import Database, User
from pgstead.live.databases import Acl, LiveDatabase, LiveSchema
from pgstead.postgres.sql import ident, render

PUBLIC = ""  # the grantee PUBLIC, as the database fact names it
PUBLIC_SCHEMA = "public"
# Where extensions go: on every role's default search_path, and never locked against USAGE.
EXTENSION_SCHEMA = PUBLIC_SCHEMA
# Roles PostgreSQL gives schema public to (15+); its members, the database owner, may create.
DATABASE_OWNER_ROLE = "pg_database_owner"

TABLE_PRIVILEGES = {"readwrite": ("SELECT", "INSERT", "UPDATE", "DELETE"), "readonly": ("SELECT",)}
SEQUENCE_PRIVILEGES = {"readwrite": ("USAGE", "SELECT", "UPDATE"), "readonly": ("SELECT",)}
# Every privilege keyword aclexplode can report, in the order GRANT statements list them.
PRIVILEGE_ORDER = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER",
                   "MAINTAIN", "USAGE", "CREATE", "CONNECT", "TEMPORARY", "EXECUTE")
_DEFAULT_KINDS = {"tables": "TABLES", "sequences": "SEQUENCES", "functions": "FUNCTIONS",
                  "types": "TYPES", "schemas": "SCHEMAS"}


@dataclass(frozen=True)
class Statement:
    sql: str
    summary: str  # what it does in words, for plans and logs; holds no secret


def app_schemas(db: Database) -> tuple[str, ...]:
    """The schemas the application uses: the declared ones, else public."""
    return db.schemas or (PUBLIC_SCHEMA,)


def managed_schemas(db: Database) -> tuple[str, ...]:
    """Schemas whose privileges pgstead owns: the app's schemas plus public (locked down)."""
    return tuple(dict.fromkeys((*app_schemas(db), PUBLIC_SCHEMA)))


def user_schemas(user: User, db: Database) -> tuple[str, ...]:
    return user.schemas or app_schemas(db)


def fresh_database(db: Database) -> LiveDatabase:
    """What CREATE DATABASE gives: PUBLIC may connect and make temp tables, public is open."""
    public_acl = frozenset({(PUBLIC, "USAGE"), (PUBLIC, "CREATE")})
    return LiveDatabase(
        owner=db.owner,
        acl=frozenset({(PUBLIC, "CONNECT"), (PUBLIC, "TEMPORARY")}),
        schemas={PUBLIC_SCHEMA: LiveSchema(PUBLIC_SCHEMA, DATABASE_OWNER_ROLE, public_acl)},
        extensions={},
    )


def _privileges(names: Iterable[str]) -> sql.Composable:
    ordered = sorted(set(names), key=PRIVILEGE_ORDER.index)  # unknown keywords raise here
    return sql.SQL(", ").join(sql.SQL(p) for p in ordered)


def _grantee(name: str) -> sql.Composable:
    return sql.SQL("PUBLIC") if name == PUBLIC else ident(name)


def _who(name: str) -> str:
    return "PUBLIC" if name == PUBLIC else name


def _on(kind: str, objects: Iterable[tuple[str, ...]]) -> sql.Composable:
    return sql.SQL("{} {}").format(sql.SQL(kind),
                                   sql.SQL(", ").join(ident(*o) for o in objects))


@dataclass(frozen=True)
class _Held:
    """What one grantee holds on one object: privileges, and those it may grant on."""

    privileges: frozenset[str]
    grantable: frozenset[str]


_NOTHING = _Held(frozenset(), frozenset())


def _held_by_grantee(acl: Acl) -> dict[str, _Held]:
    """What each grantee in `acl` holds; one pass, so a plan does not rescan it per role."""
    mine: dict[str, list[str]] = defaultdict(list)
    for grantee, privilege in acl:
        mine[grantee].append(privilege)
    return {grantee: _Held(frozenset(p.rstrip("*") for p in privileges),
                           frozenset(p[:-1] for p in privileges if p.endswith("*")))
            for grantee, privileges in mine.items()}


_NO_OPTION = sql.SQL("")
_GRANT_OPTION = sql.SQL("GRANT OPTION FOR ")


def _change(kind: str, objects: list[tuple[str, ...]], grantee: str, want: frozenset[str],
            held: _Held, label: str) -> list[Statement]:
    out = []
    have = held.privileges
    if have - want:
        out.append(Statement(
            render("grant_revoke", option=_NO_OPTION, privileges=_privileges(have - want),
                   target=_on(kind, objects), grantee=_grantee(grantee)),
            f"revoke {', '.join(sorted(have - want))} on {label} from {_who(grantee)}"))
    # pgstead never grants WITH GRANT OPTION; one given by hand would let the user pass on
    # what it holds.
    if held.grantable & want:
        out.append(Statement(
            render("grant_revoke", option=_GRANT_OPTION,
                   privileges=_privileges(held.grantable & want), target=_on(kind, objects),
                   grantee=_grantee(grantee)),
            f"revoke grant option for {', '.join(sorted(held.grantable & want))} on {label} "
            f"from {_who(grantee)}"))
    if want - have:
        out.append(Statement(
            render("grant", privileges=_privileges(want - have), target=_on(kind, objects),
                   grantee=_grantee(grantee)),
            f"grant {', '.join(sorted(want - have))} on {label} to {_who(grantee)}"))
    return out


class _Model:
    """The privileges each managed role should hold in one database."""

    def __init__(self, db: Database, users: Iterable[User], managed_roles: Iterable[str],
                 lock_public: bool = False):
        self.db = db
        self.lock_public = lock_public
        mine = [u for u in users if u.database == db.name and u.state == "present"]
        self.connect = {u.name for u in mine if u.name != db.owner}
        self.levels = {u.name: (u.role, set(user_schemas(u, db))) for u in mine
                       if u.name != db.owner and u.role in TABLE_PRIVILEGES}
        # The database owner's privileges come with ownership and are not managed.
        self.roles = sorted(set(managed_roles) - {db.owner})
        self._managed = set(self.roles)
        self._wanting = self.connect | self.levels.keys()

    def involved(self, holders: Iterable[str]) -> list[str]:
        """The managed roles, in order, that want something here or are among `holders`.

        Any other role wants nothing and holds nothing, so no statement can concern it:
        comparing every declared role on every object made a 500-user plan quadratic.
        """
        return sorted((self._wanting | set(holders)) & self._managed)

    def on_database(self, role: str) -> frozenset[str]:
        return frozenset({"CONNECT"}) if role in self.connect else frozenset()

    def on_schema(self, role: str, schema: str) -> frozenset[str]:
        usage = frozenset({"USAGE"})
        if schema == PUBLIC_SCHEMA and (role in self.connect if self.lock_public
                                        else role == PUBLIC):
            return usage
        if role == PUBLIC:
            return frozenset()
        level = self.levels.get(role)
        return frozenset({"USAGE"}) if level and schema in level[1] else frozenset()

    def on_relation(self, role: str, schema: str, kind: str) -> frozenset[str]:
        level = self.levels.get(role)
        if not level or schema not in level[1]:
            return frozenset()
        table = TABLE_PRIVILEGES if kind in ("table", "tables") else SEQUENCE_PRIVILEGES
        return frozenset(table[level[0]])


def _database_statements(model: _Model, live: LiveDatabase) -> list[Statement]:
    db = model.db
    out = []
    if live.owner != db.owner:
        out.append(Statement(render("db_alter_owner", name=ident(db.name), owner=ident(db.owner)),
                             f"database {db.name}: owner {live.owner} -> {db.owner}"))
    held = _held_by_grantee(live.acl)
    for role in [PUBLIC, *model.involved(held)]:
        out += _change("DATABASE", [(db.name,)], role, model.on_database(role),
                       held.get(role, _NOTHING), f"database {db.name}")
    return out


def _schema_statements(model: _Model, live: LiveDatabase) -> list[Statement]:
    db = model.db
    out = []
    for schema in db.schemas:
        if schema == PUBLIC_SCHEMA:
            continue
        current = live.schemas.get(schema)
        if current is None:
            out.append(Statement(render("db_schema_create", name=ident(schema),
                                        owner=ident(db.owner)),
                                 f"create schema {schema} owned by {db.owner}"))
        elif current.owner != db.owner:
            out.append(Statement(render("db_schema_owner", name=ident(schema),
                                        owner=ident(db.owner)),
                                 f"schema {schema}: owner {current.owner} -> {db.owner}"))
    public = live.schemas.get(PUBLIC_SCHEMA)
    if (PUBLIC_SCHEMA in app_schemas(db) and public is not None
            and public.owner not in (db.owner, DATABASE_OWNER_ROLE)):
        # Before 15, public belongs to the bootstrap superuser; the app owner must own it.
        out.append(Statement(render("db_schema_owner", name=ident(PUBLIC_SCHEMA),
                                    owner=ident(db.owner)),
                             f"schema public: owner {public.owner} -> {db.owner}"))
    if (model.lock_public and PUBLIC_SCHEMA not in app_schemas(db) and public is not None
            and public.owner not in (db.owner, DATABASE_OWNER_ROLE)
            and "USAGE" not in _held_by_grantee(public.acl).get(db.owner, _NOTHING).privileges):
        # Before 15 the bootstrap superuser owns public: without PUBLIC's USAGE the owner
        # would lose the extensions installed there.
        out.append(Statement(render("grant", privileges=sql.SQL("USAGE"),
                                    target=_on("SCHEMA", [(PUBLIC_SCHEMA,)]),
                                    grantee=ident(db.owner)),
                             f"grant USAGE on schema public to {db.owner}"))
    for extension in db.extensions:
        if extension not in live.extensions:
            out.append(Statement(render("db_extension_create", name=ident(extension),
                                        schema=ident(EXTENSION_SCHEMA)),
                                 f"create extension {extension}"))
    for schema in managed_schemas(db):
        current = live.schemas.get(schema)
        held = _held_by_grantee(current.acl if current else frozenset())
        for role in [PUBLIC, *model.involved(held)]:
            out += _change("SCHEMA", [(schema,)], role, model.on_schema(role, schema),
                           held.get(role, _NOTHING), f"schema {schema}")
    return out


def _relation_statements(model: _Model, live: LiveDatabase) -> list[Statement]:
    # Relations needing the same change for the same role share one statement.
    groups: dict[tuple[str, str, frozenset[str], _Held], list[tuple[str, str]]]
    groups = defaultdict(list)
    for rel in live.relations:
        by_grantee = _held_by_grantee(rel.acl)
        for role in model.involved(by_grantee):
            want = model.on_relation(role, rel.schema, rel.kind)
            held = by_grantee.get(role, _NOTHING)
            if want != held.privileges or held.grantable:
                groups[(role, rel.kind, want, held)].append((rel.schema, rel.name))
    out = []
    for (role, kind, want, held), objects in groups.items():
        keyword = "SEQUENCE" if kind == "sequence" else "TABLE"
        out += _change(keyword, objects, role, want, held, f"{len(objects)} {kind}(s)")
    return out


def _default_statement(template: str, owner: str, schema: str | None, kind: str,
                       privileges: frozenset[str], grantee: str,
                       option: sql.Composable = _NO_OPTION) -> str:
    scope = sql.SQL("IN SCHEMA {}").format(ident(schema)) if schema else sql.SQL("")
    parts = {"option": option} if template == "grant_default_revoke" else {}
    return render(template, owner=ident(owner), scope=scope, privileges=_privileges(privileges),
                  kind=sql.SQL(_DEFAULT_KINDS[kind]), grantee=_grantee(grantee), **parts)


def _default_acl_statements(model: _Model, live: LiveDatabase) -> list[Statement]:
    db = model.db
    held = {(a.owner, a.schema, a.kind): a.acl for a in live.default_acls}
    wanted_keys = [(db.owner, s, k) for s in managed_schemas(db) for k in ("tables", "sequences")]
    out = []
    for key in dict.fromkeys([*wanted_keys, *held]):
        owner, schema, kind = key
        by_grantee = _held_by_grantee(held.get(key, frozenset()))
        for role in model.involved(by_grantee):
            want = (model.on_relation(role, schema, kind)
                    if key in wanted_keys else frozenset())
            current = by_grantee.get(role, _NOTHING)
            have = current.privileges
            where = f"new {kind} of {owner}" + (f" in {schema}" if schema else "")
            if have - want:
                out.append(Statement(
                    _default_statement("grant_default_revoke", owner, schema, kind,
                                       have - want, role),
                    f"revoke {', '.join(sorted(have - want))} on {where} from {role}"))
            if current.grantable & want:
                out.append(Statement(
                    _default_statement("grant_default_revoke", owner, schema, kind,
                                       current.grantable & want, role, _GRANT_OPTION),
                    f"revoke grant option for {', '.join(sorted(current.grantable & want))} "
                    f"on {where} from {role}"))
            if want - have:
                out.append(Statement(
                    _default_statement("grant_default", owner, schema, kind, want - have, role),
                    f"grant {', '.join(sorted(want - have))} on {where} to {role}"))
    return out


def plan_database(db: Database, users: Iterable[User], managed_roles: Iterable[str],
                  live: LiveDatabase | None, lock_public: bool = False) -> list[Statement]:
    """The statements, in order, that bring database `db` to the access model.

    + users: every declared user (those of other databases lose what they hold here)
    + managed_roles: names of every declared present user
    + live: the database fact, or None for a database still to be created
    + lock_public: PUBLIC loses USAGE on schema public, the database's declared users get it
    """
    model = _Model(db, users, managed_roles, lock_public)
    state = live if live is not None else fresh_database(db)
    return [*_database_statements(model, state), *_schema_statements(model, state),
            *_relation_statements(model, state), *_default_acl_statements(model, state)]


def plan_template_public(live: LiveDatabase | None) -> list[Statement]:
    """What takes schema public away from PUBLIC in a template database (template1), so that
    every database created from it starts locked. None: the fact could not read it yet (a plan
    before the server runs), planned against PostgreSQL's default."""
    schemas = live.schemas if live is not None else {
        PUBLIC_SCHEMA: LiveSchema(PUBLIC_SCHEMA, DATABASE_OWNER_ROLE,
                                  frozenset({(PUBLIC, "USAGE")}))}
    public = schemas.get(PUBLIC_SCHEMA)
    if public is None:
        return []
    held = _held_by_grantee(public.acl).get(PUBLIC, _NOTHING)
    return _change("SCHEMA", [(PUBLIC_SCHEMA,)], PUBLIC, frozenset(), held, "schema public")
