"""`pgstead restore`: real sets from a real deploy's backup program restored into a new
database and over the live one, with row counts reported; the refusals that keep data safe."""

from __future__ import annotations

import json

import pytest

from pgstead.render.cron import backup_command
from tests.clusters import sql
from tests.conftest import EnvFile, base_environment
from tests.hosts import fleet
from tests.pgstead_run import pyinfra
from tests.test_backups_cli import ROWS, deployed, pgstead, run_backup, sets_on_disk

__all__ = ["deployed"]  # the fixture, shared with the listing tests


def checksum(port: int, db: str = "shop") -> str:
    return sql(port, "SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM sales.orders o", db)


def databases(port: int) -> set[str]:
    return set(sql(port, "SELECT datname FROM pg_database").splitlines())


def restore(env_file, *args: str, stdin: str | None = None):
    return pgstead(env_file, "restore", str(env_file.path), "--host", "@local",
                   "--database", "shop", *args, stdin=stdin)


def change_shop(port: int) -> None:
    sql(port, "DELETE FROM sales.orders WHERE id <= 100", "shop")
    sql(port, "UPDATE sales.orders SET qty = -1 WHERE id > 1000", "shop")
    sql(port, "INSERT INTO sales.notes VALUES (3, 'after the backup')", "shop")


def test_restore_cli_into_new_database_has_the_same_rows(deployed):
    port = deployed.port
    run_backup(deployed)
    (backup_set,) = sets_on_disk(deployed)
    proc = restore(deployed, "--into", "shop_copy")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["TABLE", "ROWS", "EXPECTED"]
    assert lines[1].split() == ["sales.notes", "2", "2"]
    assert lines[2].split() == ["sales.orders", str(ROWS), str(ROWS)]
    assert lines[3] == f"restored shop from backup set {backup_set.name} into new database " \
                       "shop_copy"
    assert checksum(port, "shop_copy") == checksum(port, "shop")
    assert sql(port, "SELECT pg_get_userbyid(datdba) FROM pg_database "
                     "WHERE datname = 'shop_copy'") == "shop_owner"


def test_restore_cli_into_an_existing_database_is_refused(deployed):
    run_backup(deployed)
    before = checksum(deployed.port)
    proc = restore(deployed, "--into", "shop")
    assert proc.returncode == 1
    assert "database shop already exists; choose another --into name" in proc.stderr
    assert checksum(deployed.port) == before


def test_restore_cli_default_target_and_json_output(deployed):
    run_backup(deployed)
    (backup_set,) = sets_on_disk(deployed)
    proc = restore(deployed, "--from", backup_set.name, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is True and report["error"] is None
    target = report["summary"]["database"]
    assert target.startswith("shop_restored_") and target in databases(deployed.port)
    assert {t["table"]: (t["rows"], t["expected"]) for t in report["tables"]} == \
        {"sales.notes": (2, 2), "sales.orders": (ROWS, ROWS)}
    assert checksum(deployed.port, target) == checksum(deployed.port)


def test_restore_cli_replace_brings_back_the_backed_up_data(deployed):
    port = deployed.port
    run_backup(deployed)
    (backup_set,) = sets_on_disk(deployed)
    backed_up = checksum(port)
    change_shop(port)
    changed = checksum(port)
    assert changed != backed_up

    proc = restore(deployed, "--replace", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert checksum(port) == backed_up
    assert sql(port, "SELECT count(*) FROM sales.notes", "shop") == "2"
    assert [line.split() for line in proc.stdout.splitlines()[1:3]] == \
        [["sales.notes", "2", "2"], ["sales.orders", str(ROWS), str(ROWS)]]

    # The state just before the replace is a verified backup set of its own, and is listed.
    pre_replace = [s for s in sets_on_disk(deployed) if s != backup_set]
    assert len(pre_replace) == 1
    assert f"its contents before the replace are in backup set {pre_replace[0].name}" in \
        proc.stdout
    assert "the previous database was dropped" in proc.stdout
    assert not any("pgstead_old" in d or "pgstead_incoming" in d for d in databases(port))
    listed = json.loads(pgstead(deployed, "backups", str(deployed.path), "--format",
                                "json").stdout)[0]["sets"]
    assert {(s["set"], s["verified"]) for s in listed if s["db"] == "shop"} == \
        {(backup_set.name, True), (pre_replace[0].name, True)}

    # ... and it really holds the changed data: restoring it brings the change back.
    proc = restore(deployed, "--from", pre_replace[0].name, "--into", "shop_before_replace")
    assert proc.returncode == 0, proc.stderr
    assert checksum(port, "shop_before_replace") == changed


def test_restore_cli_replace_keep_old_keeps_the_previous_database(deployed):
    port = deployed.port
    run_backup(deployed)
    backed_up = checksum(port)
    change_shop(port)
    changed = checksum(port)
    proc = restore(deployed, "--replace", "--keep-old", "--yes")
    assert proc.returncode == 0, proc.stderr
    (old,) = [d for d in databases(port) if d.startswith("shop__pgstead_old_")]
    assert f"the previous database is kept as {old}" in proc.stdout
    assert checksum(port) == backed_up
    assert checksum(port, old) == changed


def test_restore_cli_replace_asks_first_and_no_changes_nothing(deployed):
    run_backup(deployed)
    change_shop(deployed.port)
    changed = checksum(deployed.port)
    sets_before = sets_on_disk(deployed)
    proc = restore(deployed, "--replace", stdin="n\n")
    assert proc.returncode == 1
    assert "Replace database 'shop' on @local" in proc.stderr and proc.stdout == ""
    assert "Aborted" in proc.stderr
    assert checksum(deployed.port) == changed
    assert sets_on_disk(deployed) == sets_before


def test_restore_cli_into_with_replace_is_a_usage_error(env_file):
    proc = pgstead(env_file, "restore", str(env_file.path), "--host", "@local",
                   "--database", "shop", "--into", "x", "--replace", "--yes")
    assert proc.returncode == 2
    assert "--into and --replace exclude each other" in proc.stderr
    assert proc.stdout == ""


def test_restore_cli_missing_set_names_it(deployed):
    run_backup(deployed)
    before = databases(deployed.port)
    proc = restore(deployed, "--from", "20000101T000000Z", "--into", "shop_old")
    assert proc.returncode == 1
    assert (f"error: restore on @local failed: no backup set shop/20000101T000000Z in "
            f"{deployed.backup_dir} (see `pgstead backups {deployed.path}`)") in proc.stderr
    assert databases(deployed.port) == before


def test_restore_cli_without_any_set_says_so(deployed):
    proc = restore(deployed, "--into", "shop_copy")
    assert proc.returncode == 1
    assert "there is no good backup set of shop" in proc.stderr
    assert "shop_copy" not in databases(deployed.port)


def test_restore_cli_unknown_host_is_a_usage_error(env_file):
    proc = pgstead(env_file, "restore", str(env_file.path), "--host", "db9", "--database", "shop")
    assert proc.returncode == 2
    assert "no host 'db9' in inventory @local" in proc.stderr


@pytest.mark.docker
@pytest.mark.slow
def test_backups_and_restore_cli_over_ssh_with_sudo(tmp_path):
    """A fresh-VM container reached as a sudo user, with the inventory beside the file (the
    default): not installed before the apply; afterwards listed, restored and replaced."""
    with fleet(tmp_path, ["bkhost"], sudo=("bkhost",)) as hosts:
        host = hosts.host("bkhost")
        port = 5433
        env = EnvFile(tmp_path, "bkssh", port, base_environment("bkssh", port))
        env.data.update({
            "databases": [{"name": "shop", "owner": "shop_owner", "schemas": ["sales"]}],
            "users": [{"name": "shop_owner", "password": {"generate": True}, "role": "owner",
                       "database": "shop"}],
            "backups": {"enabled": True, "schedule": "0 3 * * *", "dir": "/var/backups/bkssh",
                        "keep": 3},
        })
        env.write()
        hosts.write_inventory(env.path.with_suffix(".py"))

        proc = pgstead(env, "backups", str(env.path))
        assert proc.returncode == 1
        assert "host bkhost\n  error: /usr/local/sbin/pgstead-backup is not installed" in \
            proc.stdout

        run = pyinfra(str(env.path.with_suffix(".py")), env_file=env.path,
                      state_dir=env.state_dir)
        assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-6000:]}"

        def on_host(query: str, db: str = "shop") -> str:
            return host.exec("runuser", "-u", "postgres", "--", "psql", "-X", "-A", "-t", "-q",
                             "-p", str(port), "-d", db, "-c", query).stdout.strip()

        on_host("CREATE TABLE sales.orders AS SELECT g AS id FROM generate_series(1, 321) g")
        host.exec("runuser", "-u", "postgres", "--", "sh", "-c", backup_command("bkssh"))

        listed = json.loads(pgstead(env, "backups", str(env.path), "--format", "json").stdout)
        (shop_set,) = [s for s in listed[0]["sets"] if s["db"] == "shop"]
        assert listed[0]["host"] == "bkhost" and listed[0]["last_run"]["status"] == "ok"
        assert shop_set["verified"] is True and shop_set["status"] == "ok"

        proc = pgstead(env, "restore", str(env.path), "--host", "bkhost", "--database", "shop",
                       "--into", "shop_copy")
        assert proc.returncode == 0, proc.stderr
        assert ["sales.orders", "321", "321"] in [line.split() for line in proc.stdout.splitlines()]
        assert on_host("SELECT count(*) FROM sales.orders", "shop_copy") == "321"

        on_host("DELETE FROM sales.orders WHERE id > 21")
        proc = pgstead(env, "restore", str(env.path), "--host", "bkhost", "--database", "shop",
                       "--replace", "--yes")
        assert proc.returncode == 0, proc.stderr
        assert on_host("SELECT count(*) FROM sales.orders") == "321"
        assert "its contents before the replace are in backup set" in proc.stdout
