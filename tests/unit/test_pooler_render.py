"""The pooler's pure parts: pool sizes, the rendered pgbouncer.ini, auth file and unit."""

from __future__ import annotations

from pgstead.cli.driver_hints import DRIVERS, transaction_mode_note
from pgstead.config.budget import Pool, pool_size_for
from pgstead.config.model import Pooler, User
from pgstead.render.pgbouncer import (
    ClientTls,
    client_sslmode,
    pgbouncer_paths,
    render_auth_file,
    render_pgbouncer_ini,
)


def test_pool_size_leaves_a_tenth_of_the_limit_for_direct_connections():
    pooler = Pooler(enabled=True, default_pool_size=20, pool_sizes={"declared": 7})
    assert pool_size_for(User("a", connection_limit=20), pooler) == 18
    assert pool_size_for(User("a", connection_limit=1), pooler) == 1
    assert pool_size_for(User("a", connection_limit=-1), pooler) == 20
    assert pool_size_for(User("declared", connection_limit=50), pooler) == 7


def test_ini_caps_each_user_and_takes_the_mode_per_database():
    pooler = Pooler(enabled=True, port=6500, listen_addresses=("127.0.0.1", "::1"),
                    database_modes={"jobs": "session"})
    pools = [Pool("app", "app_rw", 18, "transaction"), Pool("app", "app_ro", 9, "transaction"),
             Pool("jobs", "worker", 4, "session")]
    tls = ClientTls("require", "/c/server.crt", "/c/server.key", "/c/root.crt", "TLSv1.3")
    text = render_pgbouncer_ini(env_name="prod", source="prod.yml", pooler=pooler, pools=pools,
                                server_port=5433, paths=pgbouncer_paths("prod"), tls=tls)
    assert ("app = host=/var/run/postgresql port=5433 dbname='app' pool_size=18 "
            "pool_mode=transaction") in text
    assert "jobs = host=/var/run/postgresql port=5433 dbname='jobs' pool_size=4 " \
           "pool_mode=session" in text
    assert "app_ro = max_user_connections=9" in text
    assert "listen_addr = 127.0.0.1,::1" in text and "listen_port = 6500" in text
    assert "auth_type = scram-sha-256" in text
    assert "client_tls_sslmode = require" in text
    assert "client_tls_protocols = tlsv1.3" in text
    assert "postgres" not in text.split("[pgbouncer]")[0].replace("/var/run/postgresql", "")


def test_client_sslmode_is_as_strict_as_the_server():
    assert client_sslmode(True, True) == "require"
    assert client_sslmode(True, False) == "prefer"
    assert client_sslmode(False, False) == "disable"


def test_auth_file_quotes_names_and_doubles_quotes():
    text = render_auth_file({'we"ird': "SCRAM-SHA-256$4096:c2FsdA==$a:b", "app": "SCRAM$x"})
    assert text == '"app" "SCRAM$x"\n"we""ird" "SCRAM-SHA-256$4096:c2FsdA==$a:b"\n'


def test_every_driver_has_a_setting_and_the_note_names_it():
    assert set(DRIVERS) == {"node-postgres", "postgres.js", "pgx", "psycopg", "asyncpg",
                            "prisma"}
    assert "prepare: false" in transaction_mode_note("postgres.js")
    assert "statement_cache_size=0" in transaction_mode_note("asyncpg")
    assert "--driver" in transaction_mode_note(None)
