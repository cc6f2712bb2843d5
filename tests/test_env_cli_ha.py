"""`pgstead env` for an HA cluster: DATABASE_URL and DB_* through HAProxy's leader port,
DATABASE_URL_READONLY through its read port, and DATABASE_URL_MULTIHOST, a libpq multi-host URL
over every member, read back by libpq itself. The last test logs in through such a URL
to a real server past a member that does not answer (failover between real members is in the
HA cluster tests)."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import yaml
from psycopg.conninfo import conninfo_to_dict

from tests.pgstead_run import apply
from tests.test_access import access_data, passwords
from tests.test_env_cli import PASSWORD, env_file_for, pgstead_env

MEMBERS = ["10.0.0.11", "10.0.0.12", "fd00::13"]


def ha_file(tmp_path: Path) -> Path:
    path = env_file_for(tmp_path)
    document = yaml.safe_load(path.read_text())
    document["ha"] = {"synchronous": "on"}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "prod.py"
    rows = [f"    ('db{i}', {{'ssh_hostname': {address!r}}}),"
            for i, address in enumerate(MEMBERS, start=1)]
    path.write_text("hosts = [\n" + "\n".join(rows) + "\n]\n")
    return path


def variables(tmp_path: Path, user: str, *args: str) -> dict[str, str]:
    out = pgstead_env(ha_file(tmp_path), "--user", user, "--show-secrets", "--format", "json",
                      *args, state_dir=tmp_path / "state").stdout
    return json.loads(out)


def test_a_writer_gets_every_member_and_read_write(tmp_path):
    shown = variables(tmp_path, "app_owner", "--inventory", str(inventory(tmp_path)))
    multihost = shown["DATABASE_URL_MULTIHOST"]
    assert multihost.startswith("postgresql://app_owner:")
    assert "@10.0.0.11:5999,10.0.0.12:5999,[fd00::13]:5999/app?" in multihost
    assert conninfo_to_dict(multihost) == {
        "user": "app_owner", "password": PASSWORD, "dbname": "app",
        "host": "10.0.0.11,10.0.0.12,fd00::13", "port": "5999,5999,5999",
        "sslmode": "disable", "target_session_attrs": "read-write",
        "connect_timeout": "5", "tcp_user_timeout": "10000"}
    # Without ha.balancers every member runs HAProxy: the endpoint is the first of them.
    endpoint = conninfo_to_dict(shown["DATABASE_URL"])
    assert (endpoint["host"], endpoint["port"]) == ("10.0.0.11", "5000")
    assert "target_session_attrs" not in endpoint  # HAProxy picks the member
    assert conninfo_to_dict(shown["DATABASE_URL_READONLY"])["port"] == "5001"
    assert (shown["DB_HOST"], shown["DB_PORT"]) == ("10.0.0.11", "5000")


def test_the_db_variables_make_the_same_libpq_target_as_the_url(tmp_path):
    shown = variables(tmp_path, "app_owner", "--inventory", str(inventory(tmp_path)))
    from_variables = conninfo_to_dict(
        f"host={shown['DB_HOST']} port={shown['DB_PORT']} dbname={shown['DB_NAME']} "
        f"user={shown['DB_USER']}")
    from_url = conninfo_to_dict(shown["DATABASE_URL"])
    for key in ("host", "port", "dbname", "user"):
        assert from_variables[key] == from_url[key]


def test_a_readonly_user_prefers_a_standby(tmp_path):
    shown = variables(tmp_path, "app-ro", "--inventory", str(inventory(tmp_path)))
    multihost = conninfo_to_dict(shown["DATABASE_URL_MULTIHOST"])
    assert multihost["target_session_attrs"] == "prefer-standby"


def test_host_lists_the_members_by_hand(tmp_path):
    shown = variables(tmp_path, "app_owner", "--host", "db1.example.com, db2.example.com")
    multihost = conninfo_to_dict(shown["DATABASE_URL_MULTIHOST"])
    assert multihost["host"] == "db1.example.com,db2.example.com"
    assert multihost["port"] == "5999,5999"


def test_an_ha_file_without_its_members_is_one_clear_line(tmp_path):
    proc = pgstead_env(ha_file(tmp_path), "--user", "app_owner", state_dir=tmp_path / "state",
                       check=False)
    assert proc.returncode != 0
    assert "is an HA cluster: pass --inventory (its members) or --host a,b,c" in proc.stderr
    assert "Traceback" not in proc.stderr


# TEST-NET-1 (RFC 5737): never a real host; depending on the network, libpq's connect there
# fails at once or after connect_timeout; either way it must move on to the next member.
SILENT_MEMBER = "192.0.2.1"


def test_the_url_logs_in_past_a_member_that_does_not_answer(env_file, tmp_path):
    env_file.data.update(access_data(env_file.port))
    env_file.write()
    apply(env_file.path, env_file.state_dir, extra_env=passwords())
    # The same environment as a cluster: same name, so the same state (passwords).
    ha = tmp_path / "ha" / env_file.path.name
    ha.parent.mkdir()
    ha.write_text(yaml.safe_dump({**env_file.data, "ha": {"synchronous": "on"}}))
    for user, attrs in (("app-user", "read-write"), ("reporting", "prefer-standby")):
        out = pgstead_env(ha, "--user", user, "--host", f"{SILENT_MEMBER},127.0.0.1",
                          "--show-secrets", "--format", "json", state_dir=env_file.state_dir)
        url = json.loads(out.stdout)["DATABASE_URL_MULTIHOST"]
        assert conninfo_to_dict(url)["target_session_attrs"] == attrs
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT current_user, inet_server_port(), "
                               "pg_is_in_recovery()").fetchone()
        # No replica here: prefer-standby falls back to the primary.
        assert row == (user, env_file.port, False)
