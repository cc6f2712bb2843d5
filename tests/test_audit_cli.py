"""`pgstead audit` on real clusters: passes after a default apply, names drift made by hand
(settings, roles, files), the next apply fixes it; skips opted-out controls; json; inventories
through pyinfra's connector; a server that is down fails the audit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.clusters import sql
from tests.pgstead_run import ROOT
from tests.test_hardening import declare_app, deploy


@pytest.fixture(autouse=True)
def _remove_log_directory(env_file):
    yield
    shutil.rmtree(f"/var/log/postgresql/15-{env_file.name}", ignore_errors=True)


def audit(env_file, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pgstead.cli", "audit", str(env_file.path), *args],
        capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PGSTEAD_STATE_DIR": str(env_file.state_dir)},
    )


def line_of(output: str, control: str) -> str:
    [line] = [ln for ln in output.splitlines() if ln.split()[1:2] == [control]]
    return line


def statuses(run: subprocess.CompletedProcess) -> dict[str, str]:
    controls = json.loads(run.stdout)["hosts"]["@local"]["controls"]
    return {c["control"]: c["status"] for c in controls}


def test_audit_passes_after_apply_names_hand_made_drift_and_the_next_apply_fixes_it(env_file):
    declare_app(env_file)
    deploy(env_file)
    clean = audit(env_file)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert line_of(clean.stdout, "log_connections").split()[2:] == ["pass", "on"]
    assert "FAIL" not in clean.stdout

    sql(env_file.port, "ALTER SYSTEM SET log_connections = off")
    sql(env_file.port, "SELECT pg_reload_conf()")
    drifted = audit(env_file)
    assert drifted.returncode == 1
    assert line_of(drifted.stdout, "log_connections").split()[2:4] == ["FAIL", "off"]
    assert "fix: pgstead apply sets log_connections" in line_of(drifted.stdout, "log_connections")
    assert [c for c, s in statuses(audit(env_file, "--format", "json")).items()
            if s == "fail"] == ["log_connections"]

    fixed = deploy(env_file)
    assert any("Parameters" in name for name in fixed.changed)
    assert audit(env_file).returncode == 0


def test_audit_reads_roles_and_files_not_the_file(env_file):
    declare_app(env_file, tls=False)
    deploy(env_file)
    port = env_file.port
    sql(port, "SET password_encryption = 'md5'; "
              "CREATE ROLE hand_made LOGIN PASSWORD 'a-legacy-md5-password'")
    log_dir = Path(f"/var/log/postgresql/15-{env_file.name}")
    log_dir.chmod(0o755)
    assert line_of(audit(env_file).stdout, "public_schema_usage").split()[2] == "pass"
    sql(port, "GRANT USAGE ON SCHEMA public TO PUBLIC", "template1")
    run = audit(env_file, "--format", "json")
    assert run.returncode == 1
    failed = sorted(c for c, s in statuses(run).items() if s == "fail")
    assert failed == ["connection_limits", "log_directory", "no_md5", "public_schema_usage"]
    text = audit(env_file).stdout
    assert "hand_made" in line_of(text, "no_md5") and "hand_made" in line_of(
        text, "connection_limits")
    assert "mode 0755" in line_of(text, "log_directory")
    assert "PUBLIC uses public in template1" in line_of(text, "public_schema_usage")
    assert "a-legacy-md5-password" not in text + run.stdout


def test_opted_out_control_shows_as_skipped_with_its_reason(env_file):
    declare_app(env_file, tls=False)
    env_file.data["hardening"] = {"opt_out": [
        {"control": "log_statement", "reason": "statement logging is done by the proxy"}]}
    env_file.write()
    deploy(env_file)
    run = audit(env_file)
    assert run.returncode == 0, run.stdout
    assert line_of(run.stdout, "log_statement").endswith(
        "skip (opted out: statement logging is done by the proxy)")
    assert statuses(audit(env_file, "--format", "json"))["log_statement"] == "skip"


def test_audit_through_an_inventory_reads_the_same_live_state(env_file, tmp_path):
    declare_app(env_file, tls=False)
    deploy(env_file)
    inventory = tmp_path / "inv.py"
    inventory.write_text('hosts = ["@local"]\n')
    local = json.loads(audit(env_file, "--format", "json").stdout)
    run = audit(env_file, "--inventory", str(inventory), "--host", "@local", "--format", "json")
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(run.stdout) == local
    unknown = audit(env_file, "--inventory", str(inventory), "--host", "db9")
    assert unknown.returncode == 2 and "no host 'db9'" in unknown.stderr


def test_audit_fails_when_the_server_cannot_be_read(env_file):
    declare_app(env_file, tls=False)
    deploy(env_file)
    subprocess.run(["pg_ctlcluster", "15", env_file.name, "stop"], check=True)
    run = audit(env_file)
    assert run.returncode == 1
    assert run.stdout.startswith("@local: error: cannot read 15/")


def test_a_server_with_hardening_off_is_judged_against_the_baseline(env_file):
    declare_app(env_file, tls=False)
    env_file.data["hardening"] = {"level": "off"}
    env_file.write()
    deploy(env_file)
    run = audit(env_file)
    assert run.returncode == 1
    assert run.stdout.startswith(f"note: {env_file.path} has hardening level off")
    assert line_of(run.stdout, "logging_collector").split()[2:4] == ["FAIL", "off"]
    assert line_of(run.stdout, "log_connections").split()[2:4] == ["pass", "on"]


def test_strict_audit_names_the_encrypted_key_the_superuser_limit_and_set_user(env_file):
    declare_app(env_file)
    env_file.data["hardening"] = {"level": "strict", "pgaudit": {"enabled": False}}
    env_file.write()
    passphrase = Path(f"/etc/pgstead/tls/15-{env_file.name}.passphrase")
    try:
        deploy(env_file)
        clean = audit(env_file)
        assert clean.returncode == 0, clean.stdout + clean.stderr
        for control in ("ssl_key_encrypted", "superuser_connection_limit", "set_user",
                        "ssl_min_protocol_version", "log_error_verbosity", "ssl_ciphers",
                        "public_schema_usage"):
            assert line_of(clean.stdout, control).split()[2] == "pass", control
        assert "key encrypted, passphrase file 0440 root" in line_of(clean.stdout,
                                                                     "ssl_key_encrypted")
        assert "postgres: 10" in line_of(clean.stdout, "superuser_connection_limit")

        sql(env_file.port, "ALTER ROLE postgres CONNECTION LIMIT -1")
        passphrase.chmod(0o444)
        run = audit(env_file, "--format", "json")
        assert sorted(c for c, s in statuses(run).items() if s == "fail") == [
            "ssl_key_encrypted", "superuser_connection_limit"]
        text = audit(env_file).stdout
        assert "passphrase file 0444 root" in line_of(text, "ssl_key_encrypted")
        assert "no limit" in line_of(text, "superuser_connection_limit")
        deploy(env_file)
        assert audit(env_file).returncode == 0
    finally:
        passphrase.unlink(missing_ok=True)


def test_baseline_audit_skips_the_strict_only_controls(env_file):
    declare_app(env_file, tls=False)
    deploy(env_file)
    run = audit(env_file)
    assert run.returncode == 0, run.stdout
    for control in ("ssl_key_encrypted", "superuser_connection_limit", "set_user"):
        assert line_of(run.stdout, control).endswith("skip (not enabled)"), control
