"""`pgstead plan`: the contract example planned offline, file by file, with no secret in sight."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pgstead.config.load import load_environment
from pgstead.desired.hba import pg_hba_for
from pgstead.desired.pooler import pgbouncer_config
from pgstead.desired.settings import desired_settings
from pgstead.live.host import HostResources
from pgstead.render.backup_config import render_backup_config
from pgstead.render.compose import render_compose
from pgstead.render.cron import render_cron_entry
from pgstead.render.exporter import render_queries
from pgstead.server.select import server_for
from tests.pgstead_run import ROOT

EXAMPLE = Path("/work/shared/design/environment.example.yml")
RW_PASSWORD = "rw-" + secrets.token_urlsafe(16)
REPORTING_PASSWORD = "rep-" + secrets.token_urlsafe(16)
PLAIN_FILES = {"INDEX.txt", "postgresql.auto.conf", "pg_hba.conf", "roles-and-grants.txt",
               "tls.txt", "cron.d/pgstead-backup-prod", "backup-prod.conf"}


@pytest.fixture
def example(tmp_path) -> Path:
    """The contract example with its secrets: an env variable, a 0600 file, a generated one."""
    path = tmp_path / "prod.yml"
    shutil.copy(EXAMPLE, path)
    (tmp_path / "secrets").mkdir()
    reporting = tmp_path / "secrets" / "reporting.txt"
    reporting.write_text(REPORTING_PASSWORD + "\n")
    reporting.chmod(0o600)
    return path


def environ(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "APP_RW_PASSWORD": RW_PASSWORD,
            "PGSTEAD_STATE_DIR": str(tmp_path / "state")}


def plan(tmp_path: Path, file: Path, *args: str, offline: bool = True,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # In a network namespace of its own: a plan that needed a host or the network would fail.
    prefix = ["unshare", "--net"] if offline and shutil.which("unshare") else []
    return subprocess.run(
        [*prefix, sys.executable, "-m", "pgstead.cli", "plan", str(file), "--out",
         str(tmp_path / "out"), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=env if env is not None else environ(tmp_path))


def planned(tmp_path: Path) -> dict[str, str]:
    out = tmp_path / "out"
    return {str(p.relative_to(out)): p.read_text() for p in out.rglob("*") if p.is_file()}


def loaded(monkeypatch, tmp_path: Path, file: Path):
    """The Environment the plan was made from, loaded here with the same secrets."""
    monkeypatch.setenv("APP_RW_PASSWORD", RW_PASSWORD)
    monkeypatch.setenv("PGSTEAD_STATE_DIR", str(tmp_path / "state"))
    return load_environment(file)


def edit(file: Path, change) -> None:
    data = yaml.safe_load(file.read_text())
    change(data)
    file.write_text(yaml.safe_dump(data, sort_keys=False))


def test_plan_writes_every_file_of_a_native_install_offline(tmp_path, example):
    run = plan(tmp_path, example)
    assert run.returncode == 0, run.stderr
    assert set(planned(tmp_path)) == PLAIN_FILES
    assert f"planned {len(PLAIN_FILES)} files" in run.stdout


def test_no_secret_value_appears_anywhere_in_the_plan(tmp_path, example):
    run = plan(tmp_path, example)
    assert run.returncode == 0, run.stderr
    generated = (tmp_path / "state" / "prod" / "secrets").rglob("*")
    values = [RW_PASSWORD, REPORTING_PASSWORD,
              *[p.read_text().strip() for p in generated if p.is_file()]]
    assert len(values) == 3, "the owner's generated password is kept in the state dir"
    everything = "".join(planned(tmp_path).values()) + run.stdout + run.stderr
    for value in values:
        assert value not in everything
    roles = planned(tmp_path)["roles-and-grants.txt"]
    assert "app_rw: LOGIN; readwrite on database app; schemas auth, game; connection limit 50" \
        in roles
    assert "password ******** (from env:APP_RW_PASSWORD)" in roles
    assert "password ******** (from file:secrets/reporting.txt)" in roles
    assert "legacy_app: absent (dropped if present)" in roles


def test_pg_hba_cron_and_backup_config_are_the_renderers_bytes(tmp_path, example, monkeypatch):
    assert plan(tmp_path, example).returncode == 0
    env = loaded(monkeypatch, tmp_path, example)
    files = planned(tmp_path)
    assert files["pg_hba.conf"] == pg_hba_for(env)
    assert "hostssl \"app\" \"app_rw\" 10.0.0.0/8 scram-sha-256" in files["pg_hba.conf"]
    assert files["cron.d/pgstead-backup-prod"] == render_cron_entry("prod", "0 2 * * *")
    assert files["backup-prod.conf"] == render_backup_config(
        "prod", env.backups, port=5432, major=15)
    index = files["INDEX.txt"]
    assert "pg_hba.conf -> /etc/postgresql/15/main/pg_hba.conf" in index
    assert "cron.d/pgstead-backup-prod -> /etc/cron.d/pgstead-backup-prod" in index


def test_settings_list_each_parameter_with_its_change_class(tmp_path, example):
    assert plan(tmp_path, example).returncode == 0
    lines = planned(tmp_path)["postgresql.auto.conf"].splitlines()
    assert "max_connections = '200'  # restart; file" in lines
    assert "shared_buffers = '256MB'  # restart; file" in lines
    assert "autovacuum_naptime = '1min'  # reload; file" in lines
    assert "log_connections = 'on'  # reload, new sessions only; file" in lines
    assert "listen_addresses = 'localhost'  # restart; pgstead" in lines
    assert "ssl_cert_file = '/etc/postgresql/15/main/server.crt'  # reload; pgstead" in lines
    # Host-dependent tuning is named, not guessed; host-independent tuning is shown.
    assert "# effective_cache_size = (computed on the host)  # reload; tuning" in lines
    assert not any(line.startswith("effective_cache_size =") for line in lines)
    assert "random_page_cost = '1.1'  # reload; tuning" in lines


def settings_of(conf: str) -> dict[str, str]:
    values = {}
    for line in conf.splitlines():
        if line and not line.startswith("#"):
            name, _, rest = line.partition(" = '")
            values[name] = rest.rsplit("'  # ", 1)[0].replace("''", "'")
    return values


def test_memory_and_cpus_options_show_the_tuned_values(tmp_path, example, monkeypatch):
    assert plan(tmp_path, example, "--memory", "8GB", "--cpus", "4").returncode == 0
    conf = planned(tmp_path)["postgresql.auto.conf"]
    # Exactly what the settings role asks of a host with that memory and those CPUs.
    env = loaded(monkeypatch, tmp_path, example)
    assert settings_of(conf) == desired_settings(
        env, HostResources(8 * 1024**3, 4), "/etc/postgresql/15/main")
    lines = conf.splitlines()
    assert "computed on the host" not in conf
    assert "# tuning (profile web) for 8192MB memory, 4 CPUs" in lines
    assert "effective_cache_size = '6GB'  # reload; tuning" in lines
    assert "max_worker_processes = '8'  # restart; tuning" in lines
    # The file's own value wins over the tuned one.
    assert "shared_buffers = '256MB'  # restart; file" in lines


def test_tuning_from_the_file_is_used_without_options(tmp_path, example):
    edit(example, lambda d: d["postgres"]["tuning"].update(memory="4GB", cpus=2))
    assert plan(tmp_path, example).returncode == 0
    lines = planned(tmp_path)["postgresql.auto.conf"].splitlines()
    assert "effective_cache_size = '3GB'  # reload; tuning" in lines


def test_compose_install_plans_its_project_files(tmp_path, example, monkeypatch):
    edit(example, lambda d: d["postgres"].update(install="compose"))
    assert plan(tmp_path, example).returncode == 0
    env = loaded(monkeypatch, tmp_path, example)
    files = planned(tmp_path)
    project = render_compose(env)
    assert files["compose.yaml"] == project.compose_yaml
    assert files["compose.env"] == project.dot_env
    assert "compose.yaml -> /opt/pgstead/prod/compose.yaml" in files["INDEX.txt"]
    # The server reads pg_hba.conf from the read-only mount; the host copy is planned there.
    assert "pg_hba.conf -> /opt/pgstead/prod/conf/pg_hba.conf" in files["INDEX.txt"]
    assert "listen_addresses = '*'  # restart; pgstead" in files["postgresql.auto.conf"]
    assert RW_PASSWORD not in "".join(files.values())


def test_bad_file_exits_2_like_validate_and_writes_nothing(tmp_path, example):
    edit(example, lambda d: d["backups"].update(keep=0))
    run = plan(tmp_path, example)
    assert run.returncode == 2
    validate = subprocess.run(
        [sys.executable, "-m", "pgstead.cli", "validate", str(example)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=environ(tmp_path))
    assert validate.returncode == 2
    problems = [line for line in validate.stderr.splitlines() if "backups.keep" in line]
    assert problems and all(line in run.stderr for line in problems)
    assert not (tmp_path / "out").exists()


def test_missing_secret_is_refused_unless_no_secrets(tmp_path, example):
    without = {k: v for k, v in environ(tmp_path).items() if k != "APP_RW_PASSWORD"}
    refused = plan(tmp_path, example, env=without)
    assert refused.returncode == 2
    assert "APP_RW_PASSWORD" in refused.stderr
    accepted = plan(tmp_path, example, "--no-secrets", env=without)
    assert accepted.returncode == 0, accepted.stderr
    assert not (tmp_path / "state" / "prod" / "secrets").exists(), "--no-secrets generates none"
    assert set(planned(tmp_path)) == PLAIN_FILES


def test_bad_memory_option_is_a_usage_error(tmp_path, example):
    run = plan(tmp_path, example, "--memory", "lots")
    assert run.returncode == 2
    assert "not a size" in run.stderr


def ci_step(name_start: str) -> str:
    workflow = yaml.safe_load((ROOT / "examples" / "ci" / "pgstead.yml").read_text())
    steps = workflow["jobs"]["plan"]["steps"]
    return next(step["run"] for step in steps if step.get("name", "").startswith(name_start))


def run_ci_step(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # As GitHub Actions runs a `run:` step: bash -e with pipefail, in the checkout.
    bin_dir = str(Path(sys.executable).parent)
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                          cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
                               "PGSTEAD_STATE_DIR": str(cwd / "state")})


def test_ci_example_validates_and_plans_every_environment_without_secrets(tmp_path):
    inventories = tmp_path / "inventories"
    inventories.mkdir()
    shutil.copy(EXAMPLE, inventories / "prod.yml")  # its secrets are absent, as in CI
    validate = run_ci_step(ci_step("Validate"), tmp_path)
    assert validate.returncode == 0, validate.stderr
    planned_ok = run_ci_step(ci_step("Plan"), tmp_path)
    assert planned_ok.returncode == 0, planned_ok.stderr
    out = tmp_path / "pgstead-plan" / "prod"
    assert {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} == PLAIN_FILES

    edit(inventories / "prod.yml", lambda d: d["backups"].update(keep=0))
    refused = run_ci_step(ci_step("Validate"), tmp_path)
    assert refused.returncode == 2
    assert "backups.keep" in refused.stderr


def with_pooler_and_monitoring(data: dict) -> None:
    data["pooler"] = {"port": 6432, "listen_addresses": ["10.0.0.5"]}
    data["monitoring"] = {"listen_address": "10.0.0.5"}


def test_pooler_and_exporter_files_are_planned_with_verifiers_masked(tmp_path, example,
                                                                     monkeypatch):
    edit(example, with_pooler_and_monitoring)
    run = plan(tmp_path, example)
    assert run.returncode == 0, run.stderr
    env = loaded(monkeypatch, tmp_path, example)
    files = planned(tmp_path)
    assert set(files) == PLAIN_FILES | {
        "pgbouncer/pgstead-prod.ini", "pgbouncer/pgstead-prod.users",
        "exporter/exporter-prod-queries.yaml", "exporter/exporter-prod-web.yaml"}
    # The configuration and the queries are the renderers' bytes, as the roles install them.
    assert files["pgbouncer/pgstead-prod.ini"] == pgbouncer_config(env, server_for(env))
    assert "listen_addr = 10.0.0.5" in files["pgbouncer/pgstead-prod.ini"]
    assert files["exporter/exporter-prod-queries.yaml"] == render_queries(True)
    index = files["INDEX.txt"]
    assert "pgbouncer/pgstead-prod.ini -> /etc/pgbouncer/pgstead-prod.ini" in index
    assert "pgbouncer/pgstead-prod.users -> /etc/pgbouncer/pgstead-prod.users" in index
    assert ("exporter/exporter-prod-web.yaml -> /etc/pgstead/exporter-prod-web.yaml"
            in index)
    # The auth file names who gets through and where the password comes from, no verifier.
    users = files["pgbouncer/pgstead-prod.users"]
    entries = [line for line in users.splitlines() if line.startswith('"')]
    assert entries == ['"app_owner" "********"', '"app_rw" "********"',
                       '"reporting" "********"']
    assert "; app_rw: password ******** (from env:APP_RW_PASSWORD)" in users
    assert "SCRAM-SHA-256$" not in users and '"postgres"' not in users
    web = files["exporter/exporter-prod-web.yaml"]
    assert "  prometheus: '********'" in web and "$2b$" not in web
    everything = "".join(files.values()) + run.stdout + run.stderr
    assert RW_PASSWORD not in everything and REPORTING_PASSWORD not in everything
    assert not (tmp_path / "state" / "prod" / "secrets" / "exporter-web.password").exists(), \
        "planning generates no exporter password"


def test_statements_put_pg_stat_statements_in_every_database_of_the_plan(tmp_path, example):
    edit(example, with_pooler_and_monitoring)
    assert plan(tmp_path, example).returncode == 0
    roles = planned(tmp_path)["roles-and-grants.txt"]
    assert "extensions: pgcrypto, pg_stat_statements" in roles
    assert "-- create extension pg_stat_statements" in roles


def test_exporter_on_localhost_plans_no_web_config(tmp_path, example):
    edit(example, lambda d: d.update(monitoring={"statements": False}))
    assert plan(tmp_path, example).returncode == 0
    files = planned(tmp_path)
    assert set(files) == PLAIN_FILES | {"exporter/exporter-prod-queries.yaml"}
    assert files["exporter/exporter-prod-queries.yaml"] == render_queries(False)
