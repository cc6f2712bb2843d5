"""Databases, schemas and least-privilege users on a real server, checked by logging in as them."""

from __future__ import annotations

import subprocess
from dataclasses import replace

import psycopg
import pytest
from psycopg import errors

from pgstead.config.load import load_environment
from pgstead.config.model import Database, User
from pgstead.desired.grants import fresh_database, plan_database
from pgstead.live.databases import LiveDatabase, LiveDefaultAcl, LiveRelation, LiveSchema
from tests.clusters import sql
from tests.pgstead_run import apply, dry, pyinfra

OWNER_PW = "owner-secret-Zq81"
RW_PW = "rw secret with 'quote' and spaces"


def access_data(port: int) -> dict:
    """Databases, users and a TCP rule for every user on 127.0.0.1 (the fixture has no TLS)."""
    return {
        "databases": [{"name": "app", "owner": "app_owner", "schemas": ["auth", "game"],
                       "extensions": ["pgcrypto"]}],
        "users": [
            {"name": "app_owner", "password": {"env": "T_OWNER_PW"}, "role": "owner",
             "database": "app"},
            {"name": "app-user", "password": {"env": "T_RW_PW"}, "role": "readwrite",
             "database": "app", "connection_limit": 7},
            {"name": "reporting", "password": {"generate": True}, "role": "readonly",
             "database": "app", "valid_until": "2031-01-01"},
        ],
        "hba": [{"type": "host", "database": "all", "user": "all", "address": "127.0.0.1/32",
                 "method": "scram-sha-256"}],
    }


def passwords(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"T_OWNER_PW": OWNER_PW, "T_RW_PW": RW_PW, **(extra or {})}


def generated_password(env_file, user: str) -> str:
    path = env_file.state_dir / env_file.name / "secrets" / f"{user}.password"
    return path.read_text().rstrip("\n")


def login(port: int, user: str, password: str, dbname: str = "app") -> psycopg.Connection:
    return psycopg.connect(host="127.0.0.1", port=port, dbname=dbname, user=user,
                           password=password, connect_timeout=30, autocommit=True)


def public_may_create(port: int) -> bool:
    """Whether PUBLIC holds CREATE on schema public of database app."""
    count = sql(port, "SELECT count(*) FROM pg_namespace AS n, aclexplode(n.nspacl) AS a "
                "WHERE n.nspname = 'public' AND a.grantee = 0 AND a.privilege_type = 'CREATE'",
                "app")
    return count != "0"


def converge(env_file, extra_env: dict[str, str] | None = None):
    """Apply, then apply again and insist the second run changes nothing."""
    first = apply(env_file.path, env_file.state_dir, extra_env=passwords(extra_env))
    second = apply(env_file.path, env_file.state_dir, extra_env=passwords(extra_env))
    assert second.changed == [], f"second apply changed: {second.changed}"
    return first


@pytest.fixture
def app_env(env_file):
    env_file.data.update(access_data(env_file.port))
    env_file.write()
    converge(env_file)
    return env_file


def test_owner_creates_tables_in_its_schemas(app_env):
    with login(app_env.port, "app_owner", OWNER_PW) as conn:
        conn.execute("CREATE TABLE auth.users (id serial PRIMARY KEY, email text)")
        conn.execute("CREATE TABLE game.scores (id bigserial PRIMARY KEY, points int)")
        conn.execute("INSERT INTO auth.users (email) VALUES ('a@example.com')")
    assert sql(app_env.port, "SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'auth'",
               "app") == "app_owner"
    assert sql(app_env.port, "SELECT extname FROM pg_extension WHERE extname = 'pgcrypto'",
               "app") == "pgcrypto"


def test_readwrite_crud_on_tables_the_owner_creates_later(app_env):
    with login(app_env.port, "app_owner", OWNER_PW) as conn:
        conn.execute("CREATE TABLE game.items (id serial PRIMARY KEY, name text)")
    with login(app_env.port, "app-user", RW_PW) as conn:
        conn.execute("INSERT INTO game.items (name) VALUES ('sword'), ('shield')")
        conn.execute("UPDATE game.items SET name = 'axe' WHERE name = 'sword'")
        conn.execute("DELETE FROM game.items WHERE name = 'shield'")
        assert conn.execute("SELECT name FROM game.items").fetchall() == [("axe",)]
        assert conn.execute("SELECT nextval('game.items_id_seq')").fetchone()[0] == 3
    # Converged after the owner's new table: the default privileges already covered it.
    assert apply(app_env.path, app_env.state_dir, extra_env=passwords()).changed == []


def test_readwrite_cannot_create_or_drop(app_env):
    with login(app_env.port, "app_owner", OWNER_PW) as conn:
        conn.execute("CREATE TABLE game.keep (id int)")
    with login(app_env.port, "app-user", RW_PW) as conn:
        for statement in ("CREATE TABLE game.mine (id int)", "CREATE TABLE auth.mine (id int)",
                          "CREATE TABLE public.mine (id int)", "DROP TABLE game.keep",
                          "CREATE SCHEMA mine", "TRUNCATE game.keep"):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement)


def test_readonly_selects_but_cannot_write(app_env):
    with login(app_env.port, "app_owner", OWNER_PW) as conn:
        conn.execute("CREATE TABLE auth.sessions (id serial PRIMARY KEY, token text)")
        conn.execute("INSERT INTO auth.sessions (token) VALUES ('t1')")
    password = generated_password(app_env, "reporting")
    with login(app_env.port, "reporting", password) as conn:
        assert conn.execute("SELECT token FROM auth.sessions").fetchall() == [("t1",)]
        assert conn.execute("SELECT last_value FROM auth.sessions_id_seq").fetchone() == (1,)
        for statement in ("INSERT INTO auth.sessions (token) VALUES ('t2')",
                          "UPDATE auth.sessions SET token = 'x'", "DELETE FROM auth.sessions",
                          "SELECT nextval('auth.sessions_id_seq')",
                          "CREATE TABLE public.mine (id int)"):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement)


def test_public_schema_and_database_are_locked_down(app_env):
    assert public_may_create(app_env.port) is False
    grants = sql(app_env.port, "SELECT a.grantee::regrole, a.privilege_type "
                 "FROM pg_database AS d, aclexplode(d.datacl) AS a "
                 "WHERE d.datname = 'app' AND a.grantee <> d.datdba ORDER BY 1::text")
    assert grants.splitlines() == ['"app-user"|CONNECT', "reporting|CONNECT"]  # not PUBLIC


def test_undeclared_role_cannot_connect(app_env):
    sql(app_env.port, "CREATE ROLE stranger LOGIN PASSWORD 'Kq7-unrelated-pw'")
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        login(app_env.port, "stranger", "Kq7-unrelated-pw")
    # It can reach a database the file does not manage, so the refusal above is the ACL's.
    login(app_env.port, "stranger", "Kq7-unrelated-pw", dbname="postgres").close()


def test_wrong_password_is_refused(app_env):
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        login(app_env.port, "app-user", RW_PW + "x")


def test_no_declared_user_has_extra_attributes(app_env):
    rows = sql(app_env.port, "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, "
               "rolreplication, rolbypassrls, rolcanlogin FROM pg_roles "
               "WHERE rolname IN ('app_owner', 'app-user', 'reporting') ORDER BY 1")
    assert rows.splitlines() == [f"{name}|f|f|f|f|f|t"
                                 for name in ("app-user", "app_owner", "reporting")]


def test_attributes_set_by_hand_are_removed_and_listed_ones_kept(app_env):
    sql(app_env.port, 'ALTER ROLE "app-user" SUPERUSER CREATEROLE')
    app_env.data["users"][2]["attributes"] = ["createdb"]
    app_env.write()
    converge(app_env)
    assert sql(app_env.port, "SELECT rolsuper, rolcreaterole FROM pg_roles "
               "WHERE rolname = 'app-user'") == "f|f"
    assert sql(app_env.port, "SELECT rolcreatedb FROM pg_roles "
               "WHERE rolname = 'reporting'") == "t"


def test_connection_limit_and_valid_until_applied_and_reset(app_env, monkeypatch):
    assert sql(app_env.port, "SELECT rolconnlimit FROM pg_roles WHERE rolname = 'app-user'") == "7"
    assert sql(app_env.port, "SELECT rolvaliduntil::date FROM pg_roles "
               "WHERE rolname = 'reporting'") == "2031-01-01"
    del app_env.data["users"][1]["connection_limit"]
    del app_env.data["users"][2]["valid_until"]
    app_env.write()
    converge(app_env)
    # Undeclared: no limit, or the share hardening derives; whatever the loaded file says.
    for name, value in {**passwords(), "PGSTEAD_STATE_DIR": str(app_env.state_dir)}.items():
        monkeypatch.setenv(name, value)
    expected = load_environment(app_env.path).user("app-user").connection_limit
    assert expected != 7
    assert sql(app_env.port, "SELECT rolconnlimit FROM pg_roles "
               "WHERE rolname = 'app-user'") == str(expected)
    assert sql(app_env.port, "SELECT coalesce(rolvaliduntil::text, 'none') FROM pg_roles "
               "WHERE rolname = 'reporting'") in ("infinity", "none")


def test_excess_privileges_granted_by_hand_are_revoked(app_env):
    with login(app_env.port, "app_owner", OWNER_PW) as conn:
        conn.execute("CREATE TABLE game.ledger (id serial PRIMARY KEY)")
    for grant in ('GRANT TRUNCATE, REFERENCES ON game.ledger TO "app-user"',
                  "GRANT INSERT, DELETE ON game.ledger TO reporting",
                  'GRANT SELECT ON game.ledger TO "app-user" WITH GRANT OPTION',
                  "GRANT CREATE ON SCHEMA game TO reporting",
                  "GRANT CREATE ON SCHEMA public TO PUBLIC",
                  "GRANT TEMPORARY ON DATABASE app TO PUBLIC",
                  "ALTER DEFAULT PRIVILEGES FOR ROLE app_owner IN SCHEMA game "
                  "GRANT TRUNCATE ON TABLES TO reporting"):
        sql(app_env.port, grant, "app")
    run = converge(app_env)
    assert run.changed == ["PostgreSQL access | Access to database app"]
    assert sql(app_env.port, "SELECT has_table_privilege('app-user', 'game.ledger', 'TRUNCATE'), "
               "has_table_privilege('reporting', 'game.ledger', 'INSERT'), "
               "has_table_privilege('reporting', 'game.ledger', 'SELECT'), "
               "has_schema_privilege('reporting', 'game', 'CREATE'), "
               "has_database_privilege('reporting', 'app', 'TEMPORARY'), "
               "has_table_privilege('app-user', 'game.ledger', 'SELECT WITH GRANT OPTION'), "
               "has_table_privilege('app-user', 'game.ledger', 'SELECT')",
               "app") == "f|f|t|f|f|f|t"
    assert public_may_create(app_env.port) is False
    assert sql(app_env.port, "SELECT count(*) FROM pg_default_acl, aclexplode(defaclacl) AS a "
               "WHERE a.privilege_type = 'TRUNCATE'", "app") == "0"


def test_password_rotation_changes_once(app_env):
    run = apply(app_env.path, app_env.state_dir,
                extra_env=passwords({"T_RW_PW": "rotated-password-2-Xk"}))
    assert run.changed == ["PostgreSQL access | Login roles on " + _server(app_env)]
    login(app_env.port, "app-user", "rotated-password-2-Xk").close()
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        login(app_env.port, "app-user", RW_PW)
    again = apply(app_env.path, app_env.state_dir,
                  extra_env=passwords({"T_RW_PW": "rotated-password-2-Xk"}))
    assert again.changed == []


def test_dash_name_is_quoted_end_to_end(app_env):
    assert sql(app_env.port, "SELECT count(*) FROM pg_roles WHERE rolname = 'app-user'") == "1"
    with login(app_env.port, "app-user", RW_PW) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("app-user",)


def _server(env_file) -> str:
    return f"15/{env_file.name}:{env_file.port}"


def _legacy(env_file, state: str = "present") -> None:
    users = [u for u in env_file.data["users"] if u["name"] != "legacy"]
    entry = {"name": "legacy", "state": "absent"} if state == "absent" else {
        "name": "legacy", "password": {"env": "T_LEGACY_PW"}, "role": "readwrite",
        "database": "app"}
    env_file.data["users"] = [*users, entry]
    env_file.write()


def test_absent_role_hands_its_objects_to_the_database_owner(app_env):
    _legacy(app_env)
    converge(app_env, {"T_LEGACY_PW": "legacy-password-Qm-31"})
    # The role came to own a table (as happens when an app ran migrations as itself).
    sql(app_env.port, "CREATE TABLE game.history (id int); "
        "INSERT INTO game.history VALUES (1), (2);"
        "ALTER TABLE game.history OWNER TO legacy;"
        "GRANT SELECT ON game.history TO reporting", "app")
    _legacy(app_env, "absent")
    converge(app_env)
    assert sql(app_env.port, "SELECT count(*) FROM pg_roles WHERE rolname = 'legacy'") == "0"
    assert sql(app_env.port, "SELECT relowner::regrole FROM pg_class "
               "WHERE oid = 'game.history'::regclass", "app") == "app_owner"
    assert sql(app_env.port, "SELECT count(*) FROM game.history", "app") == "2"


def test_absent_role_owning_objects_nobody_can_receive_is_refused(app_env):
    _legacy(app_env)
    converge(app_env, {"T_LEGACY_PW": "legacy-password-Qm-31"})
    sql(app_env.port, "CREATE TABLE precious (id int); INSERT INTO precious VALUES (42);"
        "ALTER TABLE precious OWNER TO legacy")  # in postgres: no declared owner
    _legacy(app_env, "absent")
    run = pyinfra("@local", env_file=app_env.path, state_dir=app_env.state_dir,
                  json_report=False, extra_env=passwords())
    assert run.returncode != 0
    output = run.stdout + run.stderr
    assert "refusing to drop roles" in output and "table precious" in output
    assert sql(app_env.port, "SELECT count(*) FROM pg_roles WHERE rolname = 'legacy'") == "1"
    assert sql(app_env.port, "SELECT id FROM precious") == "42"


def test_dry_run_plans_everything_on_a_fresh_host_and_nothing_once_converged(env_file):
    env_file.data.update(access_data(env_file.port))
    env_file.write()
    plan = dry(env_file.path, env_file.state_dir, extra_env=passwords())
    planned = "\n".join(plan.changed)
    for op in ("Login roles", "Databases on", "Access to database app", "pg_hba.conf of"):
        assert op in planned
    assert sql_cluster_absent(env_file)
    converge(env_file)
    assert dry(env_file.path, env_file.state_dir, extra_env=passwords()).changed == []
    sql(env_file.port, 'ALTER ROLE "app-user" CONNECTION LIMIT 99')
    plan = dry(env_file.path, env_file.state_dir, extra_env=passwords())
    assert plan.changed == [f"PostgreSQL access | Login roles on {_server(env_file)}"]
    assert "role app-user: connection limit 99 -> 7" in plan.stderr
    limit = "SELECT rolconnlimit FROM pg_roles WHERE rolname = 'app-user'"
    assert sql(env_file.port, limit) == "99"  # the dry run changed nothing


def sql_cluster_absent(env_file) -> bool:
    return env_file.name not in subprocess.run(["pg_lsclusters", "--no-header"],
                                               capture_output=True, text=True).stdout


def test_users_of_another_database_get_nothing_here_and_postgres_may_own(app_env):
    app_env.data["databases"].append({"name": "shop", "owner": "postgres"})
    app_env.data["users"].append({"name": "shop_rw", "password": {"env": "T_RW_PW"},
                                  "role": "readwrite", "database": "shop"})
    app_env.write()
    converge(app_env)
    sql(app_env.port, "CREATE TABLE orders (id serial PRIMARY KEY, item text)", "shop")
    with login(app_env.port, "shop_rw", RW_PW, dbname="shop") as conn:
        conn.execute("INSERT INTO orders (item) VALUES ('tea')")
        assert conn.execute("SELECT item FROM orders").fetchall() == [("tea",)]
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        login(app_env.port, "shop_rw", RW_PW, dbname="app")
    sql(app_env.port, 'GRANT CONNECT ON DATABASE shop TO "app-user"')
    sql(app_env.port, 'GRANT SELECT ON orders TO "app-user"', "shop")
    converge(app_env)
    assert sql(app_env.port, "SELECT has_database_privilege('app-user', 'shop', 'CONNECT'), "
               "has_table_privilege('app-user', 'orders', 'SELECT')", "shop") == "f|f"


def _db(schemas=("auth", "game")) -> Database:
    return Database("app", owner="app_owner", schemas=schemas)


USERS = [User("app_owner", role="owner", database="app"),
         User("rw", role="readwrite", database="app", schemas=("game",)),
         User("ro", role="readonly", database="app")]


def test_plan_for_a_new_database_creates_and_grants_everything():
    statements = [s.sql.strip() for s in plan_database(_db(), USERS, [u.name for u in USERS],
                                                      None)]
    assert 'CREATE SCHEMA IF NOT EXISTS "auth" AUTHORIZATION "app_owner";' in statements
    assert 'REVOKE CONNECT, TEMPORARY ON DATABASE "app" FROM PUBLIC CASCADE;' in statements
    assert 'GRANT CONNECT ON DATABASE "app" TO "rw";' in statements
    assert 'REVOKE CREATE ON SCHEMA "public" FROM PUBLIC CASCADE;' in statements
    assert 'GRANT USAGE ON SCHEMA "game" TO "rw";' in statements
    assert 'GRANT USAGE ON SCHEMA "auth" TO "rw";' not in statements  # rw: game only
    assert ('ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" IN SCHEMA "game" GRANT SELECT, INSERT,'
            ' UPDATE, DELETE ON TABLES TO "rw";') in statements
    assert ('ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" IN SCHEMA "auth" GRANT SELECT '
            'ON SEQUENCES TO "ro";') in statements
    assert not any("app_owner\" TO" in s or "TO \"app_owner\"" in s for s in statements)


def test_plan_against_its_own_result_is_empty_and_excess_is_revoked():
    users, roles = USERS, [u.name for u in USERS]
    converged = LiveDatabase(
        owner="app_owner",
        acl=frozenset({("rw", "CONNECT"), ("ro", "CONNECT")}),
        schemas={
            "public": LiveSchema("public", "pg_database_owner", frozenset({("", "USAGE")})),
            "auth": LiveSchema("auth", "app_owner", frozenset({("ro", "USAGE")})),
            "game": LiveSchema("game", "app_owner", frozenset({("ro", "USAGE"), ("rw", "USAGE")})),
        },
        extensions={},
        relations=(LiveRelation("game", "t", "table", frozenset(
            {("rw", p) for p in ("SELECT", "INSERT", "UPDATE", "DELETE")} | {("ro", "SELECT")})),),
        default_acls=tuple(
            LiveDefaultAcl("app_owner", schema, kind, frozenset(acl))
            for schema, kind, acl in (
                ("auth", "tables", {("ro", "SELECT")}),
                ("auth", "sequences", {("ro", "SELECT")}),
                ("game", "tables", {("ro", "SELECT")} | {("rw", p) for p in
                                                          ("SELECT", "INSERT", "UPDATE",
                                                           "DELETE")}),
                ("game", "sequences", {("ro", "SELECT"), ("rw", "USAGE"), ("rw", "SELECT"),
                                       ("rw", "UPDATE")}))),
    )
    assert plan_database(_db(), users, roles, converged) == []
    tampered = replace(converged, relations=(LiveRelation(
        "game", "t", "table", converged.relations[0].acl | {("ro", "TRUNCATE")}),))
    assert [s.sql.strip() for s in plan_database(_db(), users, roles, tampered)] == [
        'REVOKE TRUNCATE ON TABLE "game"."t" FROM "ro" CASCADE;']
    grantable = replace(converged, relations=(LiveRelation(
        "game", "t", "table", converged.relations[0].acl - {("ro", "SELECT")}
        | {("ro", "SELECT*")}),))
    assert [s.sql.strip() for s in plan_database(_db(), users, roles, grantable)] == [
        'REVOKE GRANT OPTION FOR SELECT ON TABLE "game"."t" FROM "ro" CASCADE;']


def test_hostile_names_stay_inside_their_quotes():
    # Validation refuses such names first; the SQL must be safe even if one got through.
    nasty = 'x"; DROP TABLE t; --'
    db = Database("app", owner="app_owner", schemas=(nasty,))
    users = [User("app_owner", role="owner", database="app"),
             User("Robert'); DROP TABLE students;--", role="readonly", database="app")]
    statements = [s.sql for s in plan_database(db, users, [u.name for u in users], None)]
    assert 'CREATE SCHEMA IF NOT EXISTS "x""; DROP TABLE t; --" AUTHORIZATION "app_owner";\n' in (
        statements)
    assert 'GRANT CONNECT ON DATABASE "app" TO "Robert\'); DROP TABLE students;--";\n' in (
        statements)


def test_plan_revokes_what_a_user_of_another_database_holds_here_and_nothing_else():
    # Only roles that want or hold something here are compared (a 500-user plan compared all
    # of them everywhere); a holder wanting nothing must still lose what it holds.
    users = [*USERS, User("shop_rw", role="readwrite", database="shop"),
             User("idle", role="readonly", database="shop")]
    roles = [u.name for u in users]
    live = replace(fresh_database(_db()), acl=frozenset({("shop_rw", "CONNECT")}), schemas={
        "public": LiveSchema("public", "pg_database_owner", frozenset({("", "USAGE")})),
        "auth": LiveSchema("auth", "app_owner", frozenset({("ro", "USAGE"),
                                                            ("shop_rw", "USAGE*")})),
        "game": LiveSchema("game", "app_owner", frozenset({("ro", "USAGE"), ("rw", "USAGE")})),
    })
    summaries = [s.summary for s in plan_database(_db(), users, roles, live)]
    assert "revoke CONNECT on database app from shop_rw" in summaries
    assert "revoke USAGE on schema auth from shop_rw" in summaries
    assert not any("idle" in s for s in summaries)
    assert "grant CONNECT on database app to rw" in summaries


def test_a_locked_public_schema_is_for_the_declared_users_of_the_database_only():
    users = [*USERS, User("shop_rw", role="readwrite", database="shop")]
    roles = [u.name for u in users]
    live = replace(fresh_database(_db()), schemas={
        "public": LiveSchema("public", "pg_database_owner",
                             frozenset({("", "USAGE"), ("shop_rw", "USAGE")}))})
    summaries = [s.summary for s in plan_database(_db(), users, roles, live, lock_public=True)]
    assert "revoke USAGE on schema public from PUBLIC" in summaries
    assert "grant USAGE on schema public to rw" in summaries
    assert "grant USAGE on schema public to ro" in summaries
    assert "revoke USAGE on schema public from shop_rw" in summaries
    # The owner reaches public through pg_database_owner, which owns it.
    assert not any("public to app_owner" in s for s in summaries)
    locked = replace(live, schemas={"public": LiveSchema(
        "public", "pg_database_owner", frozenset({("rw", "USAGE"), ("ro", "USAGE")}))})
    assert not any("schema public" in s.summary
                   for s in plan_database(_db(), users, roles, locked, lock_public=True))
    # Before 15, public belongs to postgres: the owner gets USAGE on it too.
    old = replace(locked, schemas={"public": replace(locked.schemas["public"],
                                                     owner="postgres")})
    assert "grant USAGE on schema public to app_owner" in [
        s.summary for s in plan_database(_db(), users, roles, old, lock_public=True)]


def test_template1_loses_public_usage_for_public_once():
    from pgstead.desired.grants import plan_template_public

    assert [s.sql.strip() for s in plan_template_public(None)] == [
        'REVOKE USAGE ON SCHEMA "public" FROM PUBLIC CASCADE;']
    locked = replace(fresh_database(_db()), schemas={
        "public": LiveSchema("public", "pg_database_owner", frozenset())})
    assert plan_template_public(locked) == []
