"""Backups installed by the deploy: the cron entry's exact command really backs up and the
dump restores; cron really fires it; a second apply changes nothing."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pgstead.render.cron import cron_file_path
from tests.clusters import sql
from tests.conftest import enable_shop_backups
from tests.pgstead_run import apply

ROWS = 2500


@pytest.fixture
def backup_env(env_file):
    backup_dir = Path("/var/backups/pgstead-test") / env_file.name
    enable_shop_backups(env_file, backup_dir, keep=3)
    yield env_file
    Path(cron_file_path(env_file.name)).unlink(missing_ok=True)
    shutil.rmtree(backup_dir, ignore_errors=True)


def _fill(port: int) -> None:
    sql(port, "CREATE TABLE sales.orders (id int PRIMARY KEY, item text, qty int)", "shop")
    sql(port, f"INSERT INTO sales.orders SELECT g, 'item ' || g, g % 7 FROM "
              f"generate_series(1, {ROWS}) g", "shop")


def _content_checksum(port: int, db: str) -> str:
    return sql(port, "SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM sales.orders AS o", db)


def _cron_line(env_name: str) -> tuple[str, str, str]:
    """(schedule, user, command) of the installed entry."""
    for line in Path(cron_file_path(env_name)).read_text().splitlines():
        if line and not line.startswith("#") and "=" not in line.split()[0]:
            fields = line.split(None, 6)
            return " ".join(fields[:5]), fields[5], fields[6]
    raise AssertionError("no job line in the cron entry")


def test_backups_apply_twice_second_changes_nothing(backup_env):
    apply(backup_env.path, backup_env.state_dir)
    assert Path(cron_file_path(backup_env.name)).is_file()
    assert apply(backup_env.path, backup_env.state_dir).changed == []


def test_cron_command_produces_a_dump_that_restores(backup_env):
    apply(backup_env.path, backup_env.state_dir)
    _fill(backup_env.port)
    schedule, user, command = _cron_line(backup_env.name)
    assert schedule == "0 3 * * *" and user == "postgres"
    subprocess.run(["runuser", "-u", user, "--", "sh", "-c", command], check=True)

    last = json.loads((backup_env.backup_dir / "last-run.json").read_text())
    assert last["status"] == "ok"
    sets = sorted(p for p in (backup_env.backup_dir / "shop").iterdir() if p.is_dir())
    assert len(sets) == 1
    manifest = json.loads((sets[0] / "manifest.json").read_text())
    assert manifest["verified"] is True
    dump = next(p for p in sets[0].iterdir() if p.name.startswith("database."))

    sql(backup_env.port, "CREATE DATABASE shop_copy")
    restore = f"zstd -dc {shlex.quote(str(dump))}" if dump.suffix == ".zst" else \
        f"cat {shlex.quote(str(dump))}"
    subprocess.run(["runuser", "-u", "postgres", "--", "sh", "-c",
                    f"{restore} | /usr/lib/postgresql/15/bin/pg_restore -p "
                    f"{backup_env.port} -d shop_copy --no-owner"], check=True)
    assert sql(backup_env.port, "SELECT count(*) FROM sales.orders", "shop_copy") == str(ROWS)
    assert _content_checksum(backup_env.port, "shop_copy") == \
        _content_checksum(backup_env.port, "shop")


@pytest.mark.cron
@pytest.mark.slow
def test_cron_really_fires_the_backup(backup_env):
    backup_env.data["backups"]["schedule"] = "* * * * *"
    backup_env.write()
    apply(backup_env.path, backup_env.state_dir)
    _fill(backup_env.port)
    assert subprocess.run(["pgrep", "-x", "cron"], capture_output=True).returncode == 0
    last_run = backup_env.backup_dir / "last-run.json"
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and not last_run.exists():
        time.sleep(3)
    assert last_run.exists(), "cron did not run the backup within 150 s"
    # The run may still be finishing its verification when the file appears.
    while time.monotonic() < deadline + 60:
        status = json.loads(last_run.read_text())["status"]
        if status in ("ok", "failed"):
            break
        time.sleep(2)
    assert status == "ok"
