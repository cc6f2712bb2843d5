"""The compose project pgstead renders, file by file, and the compose Server seam."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from pgstead.config.model import Compose, Environment, HbaRule, Postgres, User
from pgstead.desired.hba import pg_hba_for
from pgstead.facts.compose import DockerEngine, Engine
from pgstead.operations import compose as compose_ops
from pgstead.operations import packages
from pgstead.operations.owner import file_owner
from pgstead.render.compose import (
    CONTAINER_PASSWORD_FILE,
    SPEC_LABEL,
    layout_for,
    render_compose,
)
from pgstead.server.select import server_for


def compose_env(**postgres: object) -> Environment:
    return Environment(
        name="Shop.prod",
        source=Path("/srv/envs/shop.yml"),
        state_dir=Path("/nonexistent/state"),
        postgres=Postgres(install="compose", port=6543, **postgres),
        compose=Compose(project_dir="/opt/pgstead/shop/", image="postgres:15.6",
                        bind="127.0.0.1"),
    )


def service(env: Environment) -> dict:
    document = yaml.safe_load(render_compose(env).compose_yaml)
    assert list(document["services"]) == ["postgres"]
    return document["services"]["postgres"]


def test_one_postgres_service_with_image_restart_policy_and_named_volume():
    env = compose_env()
    document = yaml.safe_load(render_compose(env).compose_yaml)
    svc = document["services"]["postgres"]
    assert svc["image"] == "postgres:15.6"
    assert svc["restart"] == "unless-stopped"
    assert svc["container_name"] == "pgstead-shop-prod"
    assert "data:/var/lib/postgresql/data" in svc["volumes"]
    assert document["volumes"] == {"data": {"name": "pgstead-shop-prod-data"}}


def test_port_is_published_on_loopback_by_default_and_on_the_bind_the_file_names():
    assert service(compose_env())["ports"] == ["127.0.0.1:6543:5432"]
    env = compose_env()
    lan = replace(env, compose=replace(env.compose, bind="10.1.2.3"))
    assert service(lan)["ports"] == ["10.1.2.3:6543:5432"]
    v6 = replace(env, compose=replace(env.compose, bind="::1"))
    assert service(v6)["ports"] == ["[::1]:6543:5432"]


def test_password_comes_from_a_mounted_file_and_is_never_a_value():
    svc = service(compose_env())
    assert svc["environment"]["POSTGRES_PASSWORD_FILE"] == CONTAINER_PASSWORD_FILE
    assert "POSTGRES_PASSWORD" not in svc["environment"]
    assert set(svc["environment"]) == {"POSTGRES_PASSWORD_FILE", "POSTGRES_INITDB_ARGS"}
    assert (f"/opt/pgstead/shop/secrets/postgres_password:{CONTAINER_PASSWORD_FILE}:ro"
            in svc["volumes"])


def test_config_directory_is_mounted_read_only_and_names_the_hba_file():
    svc = service(compose_env())
    assert "/opt/pgstead/shop/conf:/etc/pgstead:ro" in svc["volumes"]
    assert svc["command"] == ["postgres", "-c", "hba_file=/etc/pgstead/pg_hba.conf"]


def test_data_checksums_and_locale_reach_initdb():
    assert service(compose_env())["environment"]["POSTGRES_INITDB_ARGS"] == (
        "--data-checksums --locale=C.UTF-8")
    plain = service(compose_env(data_checksums=False, locale="en_US.UTF-8"))
    assert plain["environment"]["POSTGRES_INITDB_ARGS"] == "--locale=en_US.UTF-8"


def test_healthcheck_uses_pg_isready_and_shm_is_larger_than_dockers_default():
    svc = service(compose_env())
    assert svc["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert svc["shm_size"] == "256m"
    assert svc["stop_signal"] == "SIGINT"


def test_project_name_is_lowercase_for_compose_v2_in_dot_env():
    project = render_compose(compose_env())
    assert project.dot_env.splitlines()[-1] == "COMPOSE_PROJECT_NAME=pgstead-shop-prod"


def test_rendering_is_repeatable_and_the_spec_label_follows_what_decides_the_container():
    env = compose_env()
    first, again = render_compose(env), render_compose(env)
    assert first == again
    assert service(env)["labels"][SPEC_LABEL] == first.spec_sha256
    newer = replace(env, compose=replace(env.compose, image="postgres:15.7"))
    assert render_compose(newer).spec_sha256 != first.spec_sha256
    # The header names the source file; moving the file does not re-create the container.
    moved = replace(env, source=Path("/elsewhere/shop.yml"))
    assert render_compose(moved).spec_sha256 == first.spec_sha256


def test_without_a_compose_section_rendering_refuses():
    env = replace(compose_env(), compose=None)
    with pytest.raises(ValueError, match="compose section"):
        render_compose(env)


@pytest.mark.skipif(shutil.which("pgstead-compose") is None
                    and shutil.which("docker-compose") is None, reason="no Compose installed")
def test_compose_itself_accepts_the_rendered_file(tmp_path):
    env = replace(compose_env(), compose=Compose(project_dir=str(tmp_path), image="postgres:15"))
    project = render_compose(env)
    (tmp_path / "compose.yaml").write_text(project.compose_yaml)
    (tmp_path / ".env").write_text(project.dot_env)
    tool = ["pgstead-compose"] if shutil.which("pgstead-compose") else ["docker-compose"]
    proc = subprocess.run([*tool, "-f", str(tmp_path / "compose.yaml"), "config"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "name: pgstead-shop-prod-data" in proc.stdout


def test_compose_server_runs_tools_in_the_container_and_maps_config_paths_to_the_host():
    server = server_for(compose_env())
    assert server.exec_prefix == ("pgstead-compose", "-f", "/opt/pgstead/shop/compose.yaml",
                                  "exec", "-T", "-u", "postgres", "postgres")
    assert server.socket_port == 5432 and server.port == 6543
    assert server.config_dir == "/etc/pgstead"
    assert server.host_path("/etc/pgstead/server.key") == "/opt/pgstead/shop/conf/server.key"
    assert server.host_path("/etc/pgstead-other/x") == "/etc/pgstead-other/x"
    assert server.restart[:2] == ("sh", "-c")
    native = server_for(replace(compose_env(), postgres=Postgres(install="native")))
    assert native.host_path("/etc/postgresql/15/main/server.key") == (
        "/etc/postgresql/15/main/server.key")
    assert file_owner(native) == "postgres:postgres"


def test_layout_keeps_secrets_and_conf_inside_the_project_dir():
    layout = layout_for(compose_env())
    assert layout.compose_file == "/opt/pgstead/shop/compose.yaml"
    assert layout.password_file == "/opt/pgstead/shop/secrets/postgres_password"
    assert layout.conf_dir == "/opt/pgstead/shop/conf"


def test_loopback_hba_rules_become_samenet_in_a_container_only():
    rules = (HbaRule(type="host", database="app", user="app", address="127.0.0.1/32",
                     method="scram-sha-256"),
             HbaRule(type="host", database="app", user="app", address="10.0.0.0/8",
                     method="scram-sha-256"))
    users = (User(name="app", role="owner", database="app"),)
    env = replace(compose_env(), hba=rules, users=users)
    lines = pg_hba_for(env).splitlines()
    assert 'host "app" "app" samenet scram-sha-256' in lines
    assert 'host "app" "app" 10.0.0.0/8 scram-sha-256' in lines
    native = replace(env, postgres=Postgres(install="native"))
    assert 'host "app" "app" 127.0.0.1/32 scram-sha-256' in pg_hba_for(native).splitlines()


# ------------------------------------------------- engine operation: which commands, pure logic
# (starting a daemon cannot be exercised for real here: no privileged containers)


class FakeHost:
    """Stands in for pyinfra's host: answers the two facts the engine operation reads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.noops: list[str] = []

    def get_fact(self, fact: type, *args: object, **kwargs: object) -> object:
        return self.engine if fact is DockerEngine else {}

    def noop(self, why: str) -> None:
        self.noops.append(why)


def engine_commands(monkeypatch, engine: Engine) -> tuple[list[str], FakeHost]:
    fake = FakeHost(engine)
    monkeypatch.setattr(compose_ops, "host", fake)
    monkeypatch.setattr(packages, "host", fake)
    return [cmd.get_raw_value() for cmd in compose_ops.engine._inner()], fake


def test_engine_on_a_bare_host_installs_docker_and_compose_and_starts_dockerd(monkeypatch):
    commands, _ = engine_commands(monkeypatch, Engine(False, False, False, False, False))
    assert commands[1].endswith("install --no-install-recommends docker.io docker-compose")
    assert commands[2].startswith("setsid nohup dockerd >> /var/log/dockerd.log")
    assert commands[3].startswith("i=0; until docker info")


def test_engine_with_systemd_starts_the_service_and_keeps_compose_v2(monkeypatch):
    commands, _ = engine_commands(monkeypatch, Engine(True, False, True, False, True))
    assert commands[0] == "systemctl enable --now docker"
    assert not any("apt-get" in command for command in commands)


def test_engine_already_running_changes_nothing(monkeypatch):
    commands, fake = engine_commands(monkeypatch, Engine(True, True, False, True, False))
    assert commands == [] and fake.noops
