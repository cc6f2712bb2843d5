"""Weak declared passwords are refused on the controller, located, before any host is touched."""

from __future__ import annotations

import secrets
import subprocess

import pytest

from pgstead.config.load import check_file
from pgstead.config.passwords import MIN_LENGTH, common_passwords, weak_password_reason
from tests.pgstead_run import pyinfra

WEAK = "Password12345678!"  # a common word padded past the length rule


@pytest.mark.parametrize("password, why", [
    ("short-Pw1", "shorter than 16"),
    ("passwordpassword", "common password"),
    ("Password12345678!", "common password"),
    ("1234567890123456", "common password"),
    ("!!qwertyuiop2024!!", "common password"),
    ("abcabcabcabcabcabc", "fewer than 6"),
    ("Monkeymonkeymonkey", "common password"),
    ("zzzzzzzzzzzzzzzzzzzz", "fewer than 6"),
    ("app_reporting_user", "is the user name"),
])
def test_weak_passwords_are_named_without_showing_them(password, why):
    reason = weak_password_reason(password, user="app_reporting_user")
    assert reason is not None and why in reason
    assert password not in reason


@pytest.mark.parametrize("password", [
    secrets.token_urlsafe(24),
    "correct horse: battery 'staple'",
    "rw secret with 'quote' and spaces",
])
def test_long_uncommon_passwords_pass(password):
    assert weak_password_reason(password, user="app") is None


def test_common_list_is_ours_lowercase_and_about_a_thousand_entries():
    common = common_passwords()
    assert 900 <= len(common) <= 1100
    assert all(entry == entry.lower() for entry in common)
    assert {"password", "qwerty123", "letmein", "1234567890123456"} <= common
    assert len(secrets.token_urlsafe(24)) >= MIN_LENGTH


def _file(tmp_path, password_spec: str, hardening: str = "") -> str:
    path = tmp_path / "weak.yml"
    path.write_text(
        "name: weak\n"
        "postgres: {cluster: weak_pw_guard, port: 5524}\n"
        "databases:\n"
        "  - {name: app, owner: app_owner}\n"
        "users:\n"
        "  - name: app_owner\n"
        f"    password: {password_spec}\n"
        "    role: owner\n"
        "    database: app\n"
        + hardening
    )
    return str(path)


def test_weak_env_password_is_an_error_at_its_path_and_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PGSTEAD_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("WEAK_PW", WEAK)
    report = check_file(_file(tmp_path, "{env: WEAK_PW}"))
    assert report.environment is None
    [problem] = report.errors
    assert (problem.path, problem.line) == ("users[0].password", 7)
    assert "common password" in problem.message and "env:WEAK_PW" in problem.message
    assert WEAK not in str(problem)


def test_generated_passwords_are_never_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("PGSTEAD_STATE_DIR", str(tmp_path / "state"))
    report = check_file(_file(tmp_path, "{generate: true}"))
    assert report.ok, report.errors
    assert len(report.environment.user("app_owner").password.reveal()) >= 32


@pytest.mark.parametrize("hardening", [
    "hardening: {level: 'off'}\n",
    "hardening:\n  opt_out:\n    - {control: passwordcheck, reason: legacy client}\n",
])
def test_check_follows_hardening_off_or_opt_out(tmp_path, monkeypatch, hardening):
    monkeypatch.setenv("PGSTEAD_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("WEAK_PW", WEAK)
    report = check_file(_file(tmp_path, "{env: WEAK_PW}", hardening))
    assert report.ok, report.errors


def test_deploy_with_a_weak_password_stops_before_any_host_is_touched(tmp_path):
    path = _file(tmp_path, "{env: WEAK_PW}")
    run = pyinfra("@local", env_file=tmp_path / "weak.yml", state_dir=tmp_path / "state",
                  json_report=False, extra_env={"WEAK_PW": WEAK})
    output = run.stdout + run.stderr
    assert run.returncode == 2, output
    assert f"{path}:7: users[0].password: the password is a common password" in output
    assert "Starting operation" not in output
    assert WEAK not in output
    after = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True,
                           check=True).stdout
    assert "weak_pw_guard" not in after
