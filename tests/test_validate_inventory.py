"""`pgstead validate FILE --inventory INV`: an HA file checked against the inventory's hosts
by the real CLI, connecting to none of them (the addresses here do not exist)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.pgstead_run import ROOT

HA_FILE = "name: prod\npostgres:\n  listen_addresses: ['*']\nha:\n  synchronous: strict\n"


def validate(tmp_path: Path, inventory_rows: list[str]) -> subprocess.CompletedProcess:
    env = tmp_path / "prod.yml"
    env.write_text(HA_FILE)
    inventory = tmp_path / "prod.py"
    inventory.write_text("hosts = [\n" + "\n".join(f"    {row}," for row in inventory_rows)
                         + "\n]\n")
    return subprocess.run(
        [sys.executable, "-m", "pgstead.cli", "validate", str(env), "--inventory",
         str(inventory)], capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PGSTEAD_STATE_DIR": str(tmp_path / "s")})


ROWS = [f"('db{i}', {{'ssh_hostname': '192.0.2.{i}'}})" for i in (1, 2, 3)]


def test_three_hosts_make_a_valid_cluster(tmp_path):
    run = validate(tmp_path, ROWS)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("ok: ")


def test_a_host_listed_twice_is_refused_at_the_ha_line(tmp_path):
    run = validate(tmp_path, [*ROWS, "('db2', {'ssh_hostname': '192.0.2.9'})"])
    assert run.returncode == 2
    assert (f"{tmp_path / 'prod.yml'}:4: ha: the inventory lists host db2 2 times"
            in run.stderr), run.stderr


def test_two_hosts_are_too_few_for_etcd_and_strict_mode_is_fine_with_two(tmp_path):
    run = validate(tmp_path, ROWS[:2])
    assert run.returncode == 2
    assert "there are 2 hosts in the inventory (db1, db2): etcd needs at least 3" in run.stderr
    assert "ha.synchronous" not in run.stderr
