"""`pgstead env` in the forms the seed apps' platforms read: each parsed back by that
platform's own parser where one is here, and each used for a real login."""

from __future__ import annotations

import base64
import json
import subprocess

import psycopg
import pytest
import yaml
from psycopg.conninfo import conninfo_to_dict

from tests.deployed_app import RW_PW, ca_file, deployed, pgstead
from tests.test_env_cli import env_file_for, pgstead_env


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    yield from deployed(tmp_path_factory, "envfmt")


def env_out(app, *args: str) -> str:
    return pgstead(app, "env", str(app.path), "--user", "app_rw", *args).stdout


def logs_in(url: str, **params: object) -> tuple:
    with psycopg.connect(url, connect_timeout=10, **params) as conn:
        return conn.execute("SELECT current_user, current_database(), "
                            "inet_client_addr() IS NULL").fetchone()


def test_k8s_secret_parses_and_its_values_log_in(app, tmp_path):
    mounted = tmp_path / "secret" / "ca.crt"  # where a pod would mount the Secret's ca.crt
    manifest = yaml.safe_load(env_out(app, "--format", "k8s-secret", "--name", "shop-db",
                                      "--namespace", "shop", "--host", "localhost",
                                      "--ca-path", str(mounted), "--show-secrets"))
    assert {k: manifest[k] for k in ("apiVersion", "kind", "type")} == {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque"}
    assert manifest["metadata"] == {"name": "shop-db", "namespace": "shop"}
    data = {key: base64.b64decode(value, validate=True)
            for key, value in manifest["data"].items()}
    assert data["ca.crt"] == ca_file(app).read_bytes()
    values = {key: value.decode() for key, value in data.items() if key != "ca.crt"}
    assert values["DB_PASSWORD"] == RW_PW and values["DB_SSL_MODE"] == "verify-full"
    assert values["DB_SSL_ROOT_CERT"] == str(mounted)
    mounted.parent.mkdir()
    mounted.write_bytes(data["ca.crt"])
    assert logs_in(values["DATABASE_URL"]) == ("app_rw", "app", False)
    with psycopg.connect(host=values["DB_HOST"], port=int(values["DB_PORT"]),
                         dbname=values["DB_NAME"], user=values["DB_USER"],
                         password=values["DB_PASSWORD"], sslmode=values["DB_SSL_MODE"],
                         sslrootcert=values["DB_SSL_ROOT_CERT"], connect_timeout=10) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("app_rw",)


def test_k8s_secret_masks_the_password_and_refuses_a_name_kubernetes_would(app):
    manifest = yaml.safe_load(env_out(app, "--format", "k8s-secret"))
    assert manifest["metadata"] == {"name": f"{app.name}-app-rw-db".replace("_", "-")}
    assert base64.b64decode(manifest["data"]["DB_PASSWORD"]) == b"********"
    assert RW_PW.encode() not in b"".join(base64.b64decode(v)
                                          for v in manifest["data"].values())
    bad = pgstead(app, "env", str(app.path), "--user", "app_rw", "--format", "k8s-secret",
                  "--name", "Shop_DB", check=False)
    assert bad.returncode == 2 and "not a Kubernetes object name" in bad.stderr


def test_compose_env_file_read_back_by_docker_compose_logs_in(app, tmp_path):
    env_file = tmp_path / "app.env"
    env_file.write_text(env_out(app, "--format", "compose-env", "--host", "localhost",
                                "--show-secrets") + "\n")
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump(
        {"services": {"app": {"image": "pgstead/debian:bookworm", "env_file": ["app.env"]}}}))
    shown = subprocess.run(["docker-compose", "config"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=120, check=True).stdout
    parsed = {key: value.replace("$$", "$") for key, value in
              yaml.safe_load(shown)["services"]["app"]["environment"].items()}
    expected = json.loads(env_out(app, "--format", "json", "--host", "localhost",
                                  "--show-secrets"))
    assert parsed == expected
    assert parsed["DB_PASSWORD"] == RW_PW
    assert logs_in(parsed["DATABASE_URL"]) == ("app_rw", "app", False)


def test_compose_env_defaults_to_the_service_name_and_container_port(tmp_path):
    path = env_file_for(tmp_path, tls=True, install="compose")
    document = yaml.safe_load(path.read_text())
    document["compose"] = {"project_dir": str(tmp_path / "project"), "bind": "127.0.0.1"}
    path.write_text(yaml.safe_dump(document))
    proc = pgstead_env(path, "--user", "app_owner", "--format", "compose-env",
                       state_dir=tmp_path / "state")
    lines = dict(line.split("=", 1) for line in proc.stdout.splitlines())
    assert lines["DB_HOST"] == "postgres" and lines["DB_PORT"] == "5432"
    assert conninfo_to_dict(lines["DATABASE_URL"])["host"] == "postgres"
    assert "add it to tls.server_names" in proc.stderr


def test_cloud_run_env_vars_file_is_a_map_of_strings_that_logs_in(app):
    values = yaml.safe_load(env_out(app, "--format", "cloud-run", "--host", "localhost",
                                    "--show-secrets"))
    assert all(isinstance(v, str) for v in values.values())  # gcloud wants strings only
    assert values["DB_PORT"] == str(app.port) and values["DB_PASSWORD"] == RW_PW
    assert logs_in(values["DATABASE_URL"]) == ("app_rw", "app", False)


def test_unix_socket_form_logs_in_on_the_database_host(app):
    values = json.loads(env_out(app, "--format", "json", "--host", "/var/run/postgresql",
                                "--show-secrets"))
    assert values["DB_HOST"] == "/var/run/postgresql" and values["DB_SSL_MODE"] == "disable"
    assert values["DATABASE_URL"].startswith("postgresql://app_rw:")
    assert conninfo_to_dict(values["DATABASE_URL"])["host"] == "/var/run/postgresql"
    assert logs_in(values["DATABASE_URL"]) == ("app_rw", "app", True)
    with psycopg.connect(host=values["DB_HOST"], port=int(values["DB_PORT"]),
                         dbname=values["DB_NAME"], user=values["DB_USER"],
                         password=values["DB_PASSWORD"], connect_timeout=10) as conn:
        assert conn.execute("SELECT inet_client_addr()").fetchone() == (None,)


def test_masked_output_in_every_format_holds_no_password(app):
    for form in ("dotenv", "json", "shell", "k8s-secret", "compose-env", "cloud-run"):
        out = env_out(app, "--format", form)
        assert RW_PW not in out and base64.b64encode(RW_PW.encode()).decode() not in out
