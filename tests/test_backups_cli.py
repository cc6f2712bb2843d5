"""`pgstead backups`: the sets a real deploy's backup program made, with sizes, verified flags
and the last run, as text and JSON; bad files and unknown hosts refused like `validate`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pgstead.cli.backups import human_size
from pgstead.render.cron import backup_command, cron_file_path
from tests.clusters import sql
from tests.conftest import enable_shop_backups
from tests.pgstead_run import ROOT, apply

ROWS = 1200
SET_DIRS = Path("/var/backups/pgstead-cli-test")


def pgstead(env_file, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess, as a user runs it."""
    environ = {**os.environ, "PGSTEAD_STATE_DIR": str(env_file.state_dir)}
    return subprocess.run([sys.executable, "-m", "pgstead.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, env=environ, input=stdin,
                          timeout=300)


@pytest.fixture
def deployed(env_file):
    """A deployed cluster with backups enabled and a `shop` database holding ROWS orders."""
    backup_dir = SET_DIRS / env_file.name
    enable_shop_backups(env_file, backup_dir, keep=5)
    apply(env_file.path, env_file.state_dir)
    port = env_file.port
    sql(port, "CREATE TABLE sales.orders (id int PRIMARY KEY, item text, qty int)", "shop")
    sql(port, f"INSERT INTO sales.orders SELECT g, 'item ' || g, g % 7 "
              f"FROM generate_series(1, {ROWS}) g", "shop")
    sql(port, "CREATE TABLE sales.notes (id int, note text)", "shop")
    sql(port, "INSERT INTO sales.notes VALUES (1, 'first'), (2, 'second')", "shop")
    yield env_file
    Path(cron_file_path(env_file.name)).unlink(missing_ok=True)
    shutil.rmtree(backup_dir, ignore_errors=True)


def run_backup(env_file) -> None:
    """The exact command cron runs, as the user cron runs it as."""
    subprocess.run(["runuser", "-u", "postgres", "--", "sh", "-c", backup_command(env_file.name)],
                   check=True, capture_output=True)


def sets_on_disk(env_file, db: str = "shop") -> list[Path]:
    directory = env_file.backup_dir / db
    return sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))


def test_backups_cli_lists_sets_with_size_and_verified_as_text(deployed):
    run_backup(deployed)
    run_backup(deployed)
    sets = sets_on_disk(deployed)
    assert len(sets) == 2

    proc = pgstead(deployed, "backups", str(deployed.path))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("host @local\n")
    last = json.loads((deployed.backup_dir / "last-run.json").read_text())
    assert f"last run: {last['finished']}, ok, took {last['duration_s']} s" in out
    assert "  database shop\n" in out and "  database postgres\n" in out
    assert "  globals (roles and tablespaces)\n" in out
    shop = out.split("  database shop\n")[1]
    lines = shop.splitlines()
    assert lines[0].split() == ["SET", "SIZE", "VERIFIED", "STATUS"]
    for line, set_dir in zip(lines[1:3], sets, strict=True):
        name, size, unit, verified, status = line.split()
        assert name == set_dir.name
        assert unit in ("KiB", "MiB") and float(size) > 0
        assert (verified, status) == ("yes", "ok")


def test_backups_cli_json_matches_the_sets_on_disk(deployed):
    run_backup(deployed)
    proc = pgstead(deployed, "backups", str(deployed.path), "--format", "json",
                   "--host", "@local")
    assert proc.returncode == 0, proc.stderr
    (host,) = json.loads(proc.stdout)
    assert host["host"] == "@local" and host["error"] is None
    assert host["last_run"]["status"] == "ok"
    shop = [s for s in host["sets"] if s["db"] == "shop"]
    (on_disk,) = sets_on_disk(deployed)
    assert [(s["set"], s["status"], s["verified"], s["path"]) for s in shop] == \
        [(on_disk.name, "ok", True, str(on_disk))]
    du = subprocess.run(["du", "-sb", str(on_disk)], capture_output=True, text=True, check=True)
    assert shop[0]["size_bytes"] == int(du.stdout.split()[0])
    assert any(s["kind"] == "globals" for s in host["sets"])


def test_backups_cli_before_the_first_run_says_none_yet(deployed):
    proc = pgstead(deployed, "backups", str(deployed.path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["host @local", "  last run: none yet",
                                        "  no backup sets yet"]


def test_backups_cli_shows_a_failed_set_and_the_failed_run(deployed):
    run_backup(deployed)
    # Corrupt the good set's dump behind the program's back, then have it re-verified.
    (good,) = sets_on_disk(deployed)
    dump = next(p for p in good.iterdir() if p.name.startswith("database."))
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    verify = subprocess.run(
        ["runuser", "-u", "postgres", "--", "sh", "-c",
         f"{backup_command(deployed.name)} --verify-set shop/{good.name}"],
        capture_output=True, text=True)
    assert verify.returncode == 1
    out = pgstead(deployed, "backups", str(deployed.path)).stdout
    row = next(line for line in out.splitlines() if good.name in line and "failed" in line)
    assert row.split()[0] == f"{good.name}.failed"
    assert row.split()[-2:] == ["no", "failed"]


def test_backups_cli_unknown_host_is_a_usage_error(deployed):
    proc = pgstead(deployed, "backups", str(deployed.path), "--host", "db9")
    assert proc.returncode == 2
    assert "no host 'db9' in inventory @local (hosts: @local)" in proc.stderr


def test_backups_cli_unreachable_host_is_reported_and_exits_1(deployed, tmp_path):
    inventory = tmp_path / "hosts.py"
    inventory.write_text('hosts = ["unreachable.invalid"]\n')
    proc = pgstead(deployed, "backups", str(deployed.path), "--inventory", str(inventory))
    assert proc.returncode == 1
    assert "host unreachable.invalid\n  error: cannot reach host unreachable.invalid" in \
        proc.stdout


def test_backups_and_restore_cli_refuse_a_bad_file_like_validate(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("name: bad\npostgres:\n  version: 15\n  port: nope\n")
    environ = {**os.environ, "PGSTEAD_STATE_DIR": str(tmp_path / "state")}
    runs = [subprocess.run([sys.executable, "-m", "pgstead.cli", *args, str(bad), *extra],
                           cwd=ROOT, capture_output=True, text=True, env=environ, timeout=60)
            for args, extra in ((["validate"], []), (["backups"], []),
                                (["restore"], ["--host", "@local", "--database", "x"]))]
    validate, listed, restored = runs
    assert validate.returncode == 2 and f"{bad}" in validate.stderr
    located = [line for line in validate.stderr.splitlines() if "port" in line]
    assert located
    for proc in (listed, restored):
        assert proc.returncode == 2
        assert proc.stdout == ""
        for line in located:
            assert line in proc.stderr


def test_backups_cli_human_sizes():
    assert [human_size(n) for n in (0, 1023, 1536, 10 * 1024**2, 5 * 1024**4, 3 * 1024**5)] == \
        ["0 B", "1023 B", "1.5 KiB", "10.0 MiB", "5.0 TiB", "3072.0 TiB"]
    assert human_size(None) == "?"
