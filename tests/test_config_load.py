"""Good files load into the expected Environment, with defaults filled and secrets resolved."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from pgstead.config.errors import ConfigError
from pgstead.config.load import check_file, load_environment
from pgstead.config.model import (
    TLS,
    Backups,
    Compose,
    Database,
    HbaRule,
    Postgres,
    Security,
    Tuning,
    User,
)
from pgstead.config.secret import Secret

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = Path("/work/shared/design/environment.example.yml")
if not CONTRACT.exists():  # CI clones shared/ beside the checkout
    CONTRACT = ROOT.parent / "shared" / "design" / "environment.example.yml"
GOOD_INPUTS = sorted((ROOT / "tests" / "good_inputs").glob("*.yml"))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def contract(tmp_path, monkeypatch) -> Path:
    """The contract example copied to tmp_path with the secrets it refers to."""
    monkeypatch.delenv("PGSTEAD_STATE_DIR", raising=False)
    monkeypatch.setenv("APP_RW_PASSWORD", "rw-password-from-env")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "reporting.txt").write_text("reporting-password\n")
    return Path(shutil.copy(CONTRACT, tmp_path / "prod.yml"))


def test_contract_example_loads_into_the_expected_environment(contract: Path):
    env = load_environment(contract)
    assert env.name == "prod"
    assert env.source == contract.resolve()
    assert env.state_dir == contract.parent / ".pgstead" / "prod"
    assert env.postgres == Postgres(
        version=15, install="native", cluster="main", port=5432,
        listen_addresses=("localhost",), data_checksums=True, locale="C.UTF-8",
        restart_policy="auto",
        tuning=Tuning(profile="web", memory_bytes=None, cpus=None, storage="ssd"),
        settings={"max_connections": "200", "shared_buffers": "256MB", "autovacuum": "on",
                  "autovacuum_naptime": "1min", "idle_in_transaction_session_timeout": "10min",
                  "log_connections": "on", "log_statement": "ddl"},
        repository="auto",
    )
    assert list(env.postgres.settings) == ["max_connections", "shared_buffers", "autovacuum",
                                           "autovacuum_naptime",
                                           "idle_in_transaction_session_timeout",
                                           "log_connections", "log_statement"]
    assert env.compose == Compose(project_dir="/opt/pgstead/prod", image="postgres:15",
                                  bind="127.0.0.1")
    assert env.tls == TLS(enabled=True, ca=None, server_names=("db.example.com",), days=825,
                          renew_before_days=30, min_protocol="TLSv1.2", require=True)
    assert env.databases == (Database(name="app", owner="app_owner",
                                      schemas=("auth", "game", "audit"),
                                      extensions=("pgcrypto",)),)
    assert env.hba == (
        HbaRule(type="hostssl", database="app", user="app_rw", method="scram-sha-256",
                address="10.0.0.0/8"),
        HbaRule(type="hostssl", database="app", user="reporting", method="scram-sha-256",
                address="10.0.1.0/24"),
    )
    assert env.backups == Backups(enabled=True, schedule="0 2 * * *", dir="/var/backups/pgstead",
                                  databases=None, format="custom", compression="zstd", keep=10,
                                  verify=True, jobs=2, method="pg_dump")
    assert env.security == Security(allow_trust=False, allow_literal_passwords=False)


def test_contract_users_carry_their_resolved_secrets(contract: Path):
    env = load_environment(contract)
    owner, rw, reporting, legacy = env.users
    generated = (env.state_dir / "secrets" / "app_owner.password").read_text().strip()
    # Hardening derives a limit for a login role that declares none.
    assert owner.connection_limit > 0
    assert owner == User(name="app_owner", role="owner", database="app",
                         password=Secret(generated, "generated:app_owner"),
                         connection_limit=owner.connection_limit)
    assert rw == User(name="app_rw", role="readwrite", database="app", schemas=("auth", "game"),
                      connection_limit=50, password=Secret("rw-password-from-env", ""))
    assert rw.password.source == "env:APP_RW_PASSWORD"
    assert reporting.password.reveal() == "reporting-password"
    assert reporting.password.source == "file:secrets/reporting.txt"
    assert reporting.connection_limit == 5
    assert legacy == User(name="legacy_app", state="absent")


def test_generated_password_is_stable_across_loads_and_kept_private(contract: Path):
    first = load_environment(contract).user("app_owner").password.reveal()
    second = load_environment(contract).user("app_owner").password.reveal()
    assert first == second
    assert len(first) == 32
    state = contract.parent / ".pgstead" / "prod"
    secret_file = state / "secrets" / "app_owner.password"
    assert mode(secret_file) == 0o600
    assert mode(secret_file.parent) == 0o700
    assert mode(state) == 0o700
    assert mode(state.parent) == 0o700


def test_state_dir_follows_PGSTEAD_STATE_DIR(contract: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PGSTEAD_STATE_DIR", str(tmp_path / "elsewhere"))
    env = load_environment(contract)
    assert env.state_dir == tmp_path / "elsewhere" / "prod"
    assert (env.state_dir / "secrets" / "app_owner.password").is_file()
    assert not (contract.parent / ".pgstead").exists()


def test_without_secrets_passwords_are_placeholders_and_nothing_is_created(contract: Path,
                                                                          monkeypatch):
    monkeypatch.delenv("APP_RW_PASSWORD")
    (contract.parent / "secrets" / "reporting.txt").unlink()
    env = load_environment(contract, resolve_secrets=False)
    assert [u.password.reveal() for u in env.users[:3]] == ["", "", ""]
    assert [u.password.source for u in env.users[:3]] == [
        "generated:app_owner", "env:APP_RW_PASSWORD", "file:secrets/reporting.txt"]
    assert not (contract.parent / ".pgstead").exists()


def test_load_environment_raises_config_error_with_every_problem(tmp_path: Path):
    bad = tmp_path / "bad.yml"
    bad.write_text("name: bad\npostgres:\n  port: abc\n  versoin: 15\n")
    with pytest.raises(ConfigError) as caught:
        load_environment(bad)
    lines = str(caught.value).splitlines()
    assert lines == [
        f"{bad}:3: postgres.port: expected an integer, got 'abc'",
        f"{bad}:4: postgres.versoin: unknown key 'versoin' (did you mean 'version'?)",
    ]
    assert [p.line for p in caught.value.problems] == [3, 4]


@pytest.mark.parametrize("file", GOOD_INPUTS, ids=[f.stem for f in GOOD_INPUTS])
def test_good_inputs_load_without_problems(file: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PGSTEAD_STATE_DIR", str(tmp_path))
    report = check_file(file)
    assert report.errors == []
    assert report.environment is not None
    assert report.environment.source == file.resolve()


def test_defaults_fill_a_minimal_file(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PGSTEAD_STATE_DIR", str(tmp_path))
    env = load_environment(ROOT / "tests" / "good_inputs" / "minimal.yml")
    assert env.postgres == Postgres()
    assert env.tls == TLS()
    assert env.backups == Backups(enabled=False)
    assert env.compose is None
    assert (env.databases, env.users, env.hba) == ((), (), ())


def test_compose_file_sizes_and_listen_text_are_normalised(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PGSTEAD_STATE_DIR", str(tmp_path))
    env = load_environment(ROOT / "tests" / "good_inputs" / "compose.yml")
    assert env.postgres.tuning == Tuning(profile="oltp", memory_bytes=8 * 1024**3, cpus=4,
                                         storage="hdd")
    assert env.postgres.listen_addresses == ("localhost", "127.0.0.1")
    assert env.compose == Compose(project_dir="/opt/pgstead/compose-dev", image="postgres:16",
                                  bind="127.0.0.1")


def test_full_file_keeps_every_option(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PGSTEAD_STATE_DIR", str(tmp_path))
    env = load_environment(ROOT / "tests" / "good_inputs" / "full.yml")
    assert env.postgres.repository == "pgdg"
    assert env.postgres.settings["shared_preload_libraries"] == "pg_stat_statements"
    assert env.postgres.settings["random_page_cost"] == "1.1"
    assert len(env.user("app_owner").password.reveal()) == 48
    assert env.user("app_rw").password == Secret("literal-but-permitted", "literal")
    assert env.user("app_rw").app_replicas == 4
    cert_user = env.user("etl$job")
    assert (cert_user.auth, cert_user.password, cert_user.attributes) == (
        "cert", None, ("replication",))
    assert env.tls.require is True and env.tls.min_protocol == "TLSv1.3"
    assert env.backups.databases == ("app",)
    assert env.backups.format == "directory" and env.backups.jobs == 4
    assert env.security == Security(allow_trust=True, allow_literal_passwords=True)


def test_tls_require_follows_enabled_when_not_given(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PGSTEAD_STATE_DIR", str(tmp_path))
    file = tmp_path / "plain.yml"
    file.write_text("name: plain\ntls:\n  enabled: false\n")
    assert load_environment(file).tls.require is False
