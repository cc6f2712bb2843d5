"""`pgstead validate` through the real CLI: exit codes, output format, warnings, --no-secrets."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from pgstead.cli.failures import ReportingGroup
from tests.test_config_load import CONTRACT

ROOT = Path(__file__).resolve().parent.parent


def run_validate(*args: str, env: dict[str, str] | None = None,
                 unset: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """`python -m pgstead.cli [--debug] validate ...` in a subprocess."""
    environ = {k: v for k, v in os.environ.items() if k not in unset}
    environ.update({"PYTHONPATH": str(ROOT), **(env or {})})
    return subprocess.run([sys.executable, "-m", "pgstead.cli", *args], capture_output=True,
                          text=True, env=environ, timeout=60, check=False)


def contract_copy(tmp_path: Path) -> Path:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "reporting.txt").write_text("reporting-password\n")
    return Path(shutil.copy(CONTRACT, tmp_path / "prod.yml"))


def test_good_file_says_ok_with_counts(tmp_path):
    file = contract_copy(tmp_path)
    result = run_validate("validate", str(file),
                          env={"APP_RW_PASSWORD": "rw-Password-Kp9-long-enough"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"ok: {file} (1 database, 4 users)\n"
    assert result.stderr == ""


def test_missing_secret_fails_unless_no_secrets(tmp_path):
    file = contract_copy(tmp_path)
    refused = run_validate("validate", str(file), unset=("APP_RW_PASSWORD",))
    assert refused.returncode == 2
    assert f"{file}:56: users[1].password: environment variable APP_RW_PASSWORD" in refused.stderr
    accepted = run_validate("validate", "--no-secrets", str(file), unset=("APP_RW_PASSWORD",))
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.startswith("ok: ")
    assert not (tmp_path / ".pgstead").exists()


def test_exposed_listen_without_tls_is_a_warning_not_an_error(tmp_path):
    file = tmp_path / "open.yml"
    file.write_text("name: open\npostgres:\n  listen_addresses: ['*', localhost]\n"
                    "tls:\n  enabled: false\n")
    result = run_validate("validate", str(file))
    assert result.returncode == 0, result.stderr
    assert result.stderr == (f"warning: {file}:3: postgres.listen_addresses: listening on * "
                             "while tls.require is false: passwords and data may cross the "
                             "network unencrypted\n")
    assert result.stdout == f"ok: {file} (0 databases, 0 users)\n"


def test_loopback_listen_without_tls_gives_no_warning(tmp_path):
    file = tmp_path / "local.yml"
    file.write_text("name: local\npostgres:\n  listen_addresses: [localhost, 127.0.0.1, '::1']\n"
                    "tls:\n  enabled: false\n")
    result = run_validate("validate", str(file))
    assert (result.returncode, result.stderr) == (0, "")


def test_every_problem_is_printed_in_file_order(tmp_path):
    file = tmp_path / "many.yml"
    file.write_text(
        "name: many\n"
        "postgres:\n"
        "  version: 12\n"
        "  settings:\n"
        "    work_mme: 4MB\n"
        "users:\n"
        "  - name: u1\n"
        "    role: admin\n"
        "    database: nowhere\n"
        "    password: {generate: true}\n"
    )
    result = run_validate("validate", str(file))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{file}:3: postgres.version: expected one of 13, 14, 15, 16, 17; got 12",
        f"{file}:8: users[0].role: expected one of owner, readwrite, readonly; got 'admin'",
        f"{file}:9: users[0].database: database 'nowhere' is not declared in databases",
        f"{file}: 3 problems",
    ]


def test_yaml_syntax_error_has_its_line(tmp_path):
    file = tmp_path / "broken.yml"
    file.write_text("name: broken\npostgres:\n  port: 5432\n   version: 15\n")
    result = run_validate("validate", str(file))
    assert result.returncode == 2
    assert result.stderr.startswith(f"{file}:4: YAML syntax: ")
    assert "Traceback" not in result.stderr


def test_missing_file_is_a_problem_not_a_traceback(tmp_path):
    result = run_validate("validate", str(tmp_path / "absent.yml"))
    assert result.returncode == 2
    assert "cannot read the file" in result.stderr
    assert "Traceback" not in result.stderr


def _failing_group() -> click.Group:
    @click.group(cls=ReportingGroup)
    @click.option("--debug", is_flag=True)
    def cli(debug: bool) -> None:
        """A stand-in group with one command that breaks."""

    @cli.command()
    def boom() -> None:
        raise RuntimeError("the disk is on fire")

    return cli


def test_unexpected_errors_are_one_line_without_debug():
    result = CliRunner().invoke(_failing_group(), ["boom"])
    assert result.exit_code == 1
    assert "error: RuntimeError: the disk is on fire" in result.output
    assert "Traceback" not in result.output


def test_debug_lets_the_traceback_through():
    result = CliRunner().invoke(_failing_group(), ["--debug", "boom"])
    assert isinstance(result.exception, RuntimeError)
