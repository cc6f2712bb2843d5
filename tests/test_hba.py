"""pg_hba.conf: rendered whole from the file, installed with a reload, a bad file never kept."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from pgstead.config.model import HbaRule, User
from pgstead.render.pg_hba import HbaError, render_pg_hba
from tests.clusters import postmaster_start, sql
from tests.pgstead_run import apply, run_deploy_file
from tests.test_access import OWNER_PW, RW_PW, access_data, login, passwords


def rule(**kw) -> HbaRule:
    defaults = {"type": "hostssl", "database": "app", "user": "app-user",
                "address": "10.0.0.0/8", "method": "scram-sha-256"}
    return HbaRule(**{**defaults, **kw})


def test_rendered_file_order_and_quoting():
    text = render_pg_hba(
        [rule(), rule(type="host", database="all", user="all", address="samenet"),
         rule(type="local", database="app,replication", user="ops", address=None,
              method="peer")],
        [User("app-user"), User("ops")], source="prod.yml")
    lines = text.splitlines()
    assert lines[0].startswith("# pg_hba.conf: managed by pgstead from prod.yml")
    assert "edits are overwritten" in lines[0]
    assert [line for line in lines if not line.startswith("#")] == [
        "local all postgres peer",
        "local replication postgres peer",
        'hostssl "app" "app-user" 10.0.0.0/8 scram-sha-256',
        "host all all samenet scram-sha-256",
        'local "app",replication "ops" peer',
        "local all all scram-sha-256",
    ]
    assert render_pg_hba([rule()], [User("app-user")], source="prod.yml") == render_pg_hba(
        [rule()], [User("app-user")], source="prod.yml")


def test_cert_users_get_the_cert_method():
    text = render_pg_hba([rule(user="tls-app")], [User("tls-app", auth="cert")])
    assert 'hostssl "app" "tls-app" 10.0.0.0/8 cert' in text


@pytest.mark.parametrize("method", ["md5", "password", "ident", "scram-sha-256 trust", ""])
def test_renderer_refuses_methods_it_does_not_write(method):
    with pytest.raises(HbaError, match="method"):
        render_pg_hba([rule(method=method)], [])


def test_trust_needs_the_opt_in():
    with pytest.raises(HbaError, match="allow_trust"):
        render_pg_hba([rule(method="trust")], [])
    assert "trust" in render_pg_hba([rule(method="trust")], [], allow_trust=True)


@pytest.mark.parametrize("bad", [
    {"user": 'a" all'}, {"database": "app db"}, {"address": "10.0.0.0/8 trust"},
    {"address": None}, {"type": "hostgssenc"}, {"type": "local", "address": "10.0.0.0/8"}])
def test_renderer_refuses_fields_that_could_change_a_line(bad):
    with pytest.raises(HbaError):
        render_pg_hba([rule(**bad)], [])


@pytest.fixture
def hba_env(env_file):
    data = access_data(env_file.port)
    data["hba"] = [{"type": "host", "database": "app", "user": "app_owner",
                    "address": "127.0.0.1/32", "method": "scram-sha-256"}]
    env_file.data.update(data)
    env_file.write()
    apply(env_file.path, env_file.state_dir, extra_env=passwords())
    assert apply(env_file.path, env_file.state_dir, extra_env=passwords()).changed == []
    return env_file


def hba_path(env_file) -> Path:
    return Path(sql(env_file.port, "SHOW hba_file"))


def test_new_rule_takes_effect_by_reload_and_previous_file_is_kept(hba_env):
    login(hba_env.port, "app_owner", OWNER_PW).close()
    with pytest.raises(psycopg.OperationalError, match="no pg_hba.conf entry"):
        login(hba_env.port, "app-user", RW_PW)
    started = postmaster_start(hba_env.port)
    before = hba_path(hba_env).read_text()

    hba_env.data["hba"].append({"type": "host", "database": "app", "user": "app-user",
                                "address": "127.0.0.1/32", "method": "scram-sha-256"})
    hba_env.write()
    run = apply(hba_env.path, hba_env.state_dir, extra_env=passwords())
    assert run.changed == [f"PostgreSQL access | pg_hba.conf of 15/{hba_env.name}:{hba_env.port}"]

    login(hba_env.port, "app-user", RW_PW).close()
    assert postmaster_start(hba_env.port) == started
    path = hba_path(hba_env)
    assert Path(f"{path}.pgstead-prev").read_text() == before
    assert oct(path.stat().st_mode & 0o777) == "0o640"
    errors = "SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL"
    assert sql(hba_env.port, errors) == "0"
    assert apply(hba_env.path, hba_env.state_dir, extra_env=passwords()).changed == []


def test_file_edited_by_hand_is_put_back(hba_env):
    path = hba_path(hba_env)
    managed = path.read_text()
    path.write_text(managed + "host all all 0.0.0.0/0 scram-sha-256\n")
    run = apply(hba_env.path, hba_env.state_dir, extra_env=passwords())
    assert len(run.changed) == 1
    assert path.read_text() == managed


BAD_DEPLOY = """
from pgstead.facts.access import AccessRead
from pgstead.operations.hba import pg_hba
from pgstead.server.psql import Server

server = Server(15, {cluster!r}, {port})
pg_hba(name="broken pg_hba.conf", server=server, access=AccessRead(server, []),
       content="local all postgres peer\\nhost all all 999.0.0.1/32 scram-sha-256\\n")
"""


def test_file_postgres_rejects_is_put_back_and_the_run_fails(hba_env, tmp_path):
    path = hba_path(hba_env)
    before = path.read_text()
    started = postmaster_start(hba_env.port)
    proc = run_deploy_file(BAD_DEPLOY.format(cluster=hba_env.name, port=hba_env.port), tmp_path)
    assert proc.returncode != 0
    assert "rejects the new pg_hba.conf" in proc.stdout + proc.stderr
    assert path.read_text() == before
    assert postmaster_start(hba_env.port) == started
    login(hba_env.port, "app_owner", OWNER_PW).close()
