"""Every secret kind: env, file, generate, literal; and what goes wrong with each."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pgstead.config import secrets as secrets_module
from pgstead.config.load import check_file, load_environment
from pgstead.config.secrets import random_password

USER = """\
name: s
databases:
  - name: app
    owner: postgres
users:
  - name: app_rw
    role: readwrite
    database: app
    password: {password}
"""


def write(tmp_path: Path, password: str, extra: str = "") -> Path:
    file = tmp_path / "s.yml"
    file.write_text(USER.format(password=password) + extra)
    return file


@pytest.fixture(autouse=True)
def private_state(tmp_path, monkeypatch):
    monkeypatch.setenv("PGSTEAD_STATE_DIR", str(tmp_path / "state"))


def errors(file: Path, **kwargs) -> list[str]:
    return [str(p) for p in check_file(file, **kwargs).errors]


def test_env_secret_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("S_PASSWORD", "from-the-env-Qx7-long-enough")
    env = load_environment(write(tmp_path, "{env: S_PASSWORD}"))
    assert env.user("app_rw").password.reveal() == "from-the-env-Qx7-long-enough"
    assert env.user("app_rw").password.source == "env:S_PASSWORD"


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_env_secret_unset_or_empty_is_a_problem(tmp_path, monkeypatch, value):
    if value is None:
        monkeypatch.delenv("S_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("S_PASSWORD", value)
    file = write(tmp_path, "{env: S_PASSWORD}")
    assert errors(file) == [f"{file}:9: users[0].password: environment variable S_PASSWORD "
                            "is not set or empty"]


def test_file_secret_loses_exactly_one_trailing_newline(tmp_path):
    (tmp_path / "pw.txt").write_text("line-one-Zk4-long-enough\n\n")
    env = load_environment(write(tmp_path, "{file: pw.txt}"))
    assert env.user("app_rw").password.reveal() == "line-one-Zk4-long-enough\n"


def test_file_secret_path_is_relative_to_the_yaml_not_the_cwd(tmp_path, monkeypatch):
    (tmp_path / "pw.txt").write_text("beside-the-yaml-Vw8-long\r\n")
    monkeypatch.chdir("/")
    env = load_environment(write(tmp_path, "{file: pw.txt}"))
    assert env.user("app_rw").password.reveal() == "beside-the-yaml-Vw8-long"


def test_file_secret_missing_or_empty_is_a_problem(tmp_path):
    file = write(tmp_path, "{file: pw.txt}")
    assert errors(file) == [f"{file}:9: users[0].password: secret file {tmp_path}/pw.txt "
                            "does not exist"]
    (tmp_path / "pw.txt").write_text("\n")
    assert errors(file) == [f"{file}:9: users[0].password: secret file {tmp_path}/pw.txt "
                            "is empty"]


def test_file_secret_unreadable_is_a_problem(tmp_path):
    (tmp_path / "pw.txt").mkdir()  # a directory cannot be read as a file, even by root
    file = write(tmp_path, "{file: pw.txt}")
    assert "cannot be read" in errors(file)[0]


def test_generated_secret_is_made_once_with_its_length_and_private(tmp_path):
    file = write(tmp_path, "{generate: true, length: 40}")
    first = load_environment(file).user("app_rw").password.reveal()
    again = load_environment(file).user("app_rw").password.reveal()
    assert first == again and len(first) == 40
    assert first.replace("-", "").replace("_", "").isalnum()
    stored = tmp_path / "state" / "s" / "secrets" / "app_rw.password"
    assert stored.read_text() == first + "\n"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700


def test_a_generated_password_has_a_letter_and_a_non_letter(monkeypatch):
    # passwordcheck refuses letters only; the first draw here is all letters, the second not.
    draws = iter("a" * 32 + "a" * 31 + "7")
    monkeypatch.setattr(secrets_module.secrets, "choice", lambda _: next(draws))
    assert random_password(32) == "a" * 31 + "7"


def test_generated_secret_is_not_created_while_the_file_has_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("S_OTHER", raising=False)
    file = write(tmp_path, "{generate: true}", extra="  - name: other\n    role: readonly\n"
                 "    database: app\n    password: {env: S_OTHER}\n")
    assert len(errors(file)) == 1
    assert not (tmp_path / "state").exists()


def test_literal_secret_needs_the_opt_in(tmp_path):
    file = write(tmp_path, "{value: clear-text-password}")
    problems = errors(file)
    assert len(problems) == 1
    assert "security.allow_literal_passwords: true" in problems[0]
    assert "clear-text-password" not in problems[0]
    file.write_text(file.read_text() + "security:\n  allow_literal_passwords: true\n")
    assert load_environment(file).user("app_rw").password.reveal() == "clear-text-password"


def test_bare_string_password_is_refused_without_echoing_it(tmp_path):
    problems = errors(write(tmp_path, "my-secret-password"))
    assert len(problems) == 1
    assert "cannot be a bare string" in problems[0]
    assert "my-secret-password" not in problems[0]


def test_no_secrets_mode_reads_and_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("S_PASSWORD", raising=False)
    assert errors(write(tmp_path, "{env: S_PASSWORD}"), resolve_secrets=False) == []
    env = load_environment(write(tmp_path, "{generate: true}"), resolve_secrets=False)
    assert env.user("app_rw").password.reveal() == ""
    assert not (tmp_path / "state").exists()


def test_byo_ca_files_must_exist_only_when_secrets_are_resolved(tmp_path):
    file = tmp_path / "ca.yml"
    file.write_text("name: ca\ntls:\n  ca: {cert: pki/ca.crt, key: pki/ca.key}\n"
                    "  host_certs:\n    db-1.example.com: {cert: pki/db1.crt, key: pki/db1.key}\n")
    assert errors(file, resolve_secrets=False) == []
    assert errors(file) == [
        f"{file}:3: tls.ca.cert: file {tmp_path}/pki/ca.crt does not exist",
        f"{file}:3: tls.ca.key: file {tmp_path}/pki/ca.key does not exist",
        f'{file}:5: tls.host_certs["db-1.example.com"].cert: file {tmp_path}/pki/db1.crt '
        "does not exist",
        f'{file}:5: tls.host_certs["db-1.example.com"].key: file {tmp_path}/pki/db1.key '
        "does not exist",
    ]
    (tmp_path / "pki").mkdir()
    for name in ("ca.crt", "ca.key", "db1.crt", "db1.key"):
        (tmp_path / "pki" / name).write_text("PEM\n")
    env = load_environment(file)
    assert env.tls.ca.cert == tmp_path / "pki" / "ca.crt"
    assert env.tls.host_certs["db-1.example.com"].key == tmp_path / "pki" / "db1.key"
