"""Point-in-time recovery with `backups.method: pgbackrest`, on a real cluster with the real
pgBackRest: the deploy archives WAL to a stanza it creates once, the cron entry's exact command
makes a full backup that `info` lists, retention keeps `keep` full backups, and a restore to a
time gives a new cluster holding only what was committed before that time."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pgstead.render.cron import backup_config_path, cron_file_path
from pgstead.render.pgbackrest import MAIN_CONFIG, stanza_config_path
from tests.clusters import drop_cluster, free_port, postmaster_start, show, sql, worker_ports
from tests.conftest import EnvFile, base_environment, enable_shop_backups
from tests.pgstead_run import apply, dry, pyinfra
from tests.test_backups_cli import pgstead
from tests.test_compose_deploy import cron_job

PITR_DIRS = Path("/var/backups/pgstead-pitr-test")
PGBACKREST_LOGS = Path("/var/log/pgbackrest")


def pgbackrest_info(stanza: str) -> dict:
    proc = subprocess.run(["runuser", "-u", "postgres", "--", "pgbackrest", f"--stanza={stanza}",
                           "--output=json", "info"], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)[0]


def plain_info() -> str:
    """`pgbackrest info` as an operator types it first: as postgres, no --stanza."""
    proc = subprocess.run(["runuser", "-u", "postgres", "--", "pgbackrest", "info"],
                          capture_output=True, text=True, check=True)
    return proc.stdout


def forget_main_config(repo_root: Path) -> None:
    """Remove pgBackRest's main config if it names a repository under `repo_root` (a test's)."""
    main = Path(MAIN_CONFIG)
    if main.exists() and f"repo1-path={repo_root}/" in main.read_text():
        main.unlink()


def run_cron_command(env) -> None:
    user, command = cron_job(env.name)
    run = subprocess.run(["runuser", "-u", user, "--", "sh", "-c", command])
    last_run = env.backup_dir / "last-run.json"
    assert run.returncode == 0, last_run.read_text() if last_run.exists() else "no last run"


def restored_clusters(name: str) -> list[str]:
    listed = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True)
    return [fields[1] for fields in map(str.split, listed.stdout.splitlines())
            if len(fields) > 1 and fields[1].startswith(f"{name}_")]


@pytest.fixture
def pitr_env(env_file):
    """A deployed cluster whose backups are pgBackRest's, keeping 2 full backups."""
    backup_dir = PITR_DIRS / env_file.name
    enable_shop_backups(env_file, backup_dir, keep=2)
    env_file.data["backups"].update({"method": "pgbackrest", "verify": True})
    env_file.write()
    yield env_file
    for name in restored_clusters(env_file.name):
        drop_cluster(15, name)
    for path in (cron_file_path(env_file.name), backup_config_path(env_file.name),
                 stanza_config_path(env_file.name)):
        Path(path).unlink(missing_ok=True)
    for log in PGBACKREST_LOGS.glob(f"{env_file.name}-*.log"):
        log.unlink()
    forget_main_config(backup_dir)
    shutil.rmtree(backup_dir, ignore_errors=True)


def test_pgbackrest_apply_twice_second_changes_nothing(pitr_env):
    apply(pitr_env.path, pitr_env.state_dir)
    assert show(pitr_env.port, "archive_mode") == "on"
    assert show(pitr_env.port, "archive_command") == \
        f"pgbackrest --stanza={pitr_env.name} archive-push %p"
    assert pgbackrest_info(pitr_env.name)["db"], "the stanza was not created"
    assert f"stanza: {pitr_env.name}\n" in plain_info()
    assert apply(pitr_env.path, pitr_env.state_dir).changed == []


@pytest.fixture
def second_cluster(pitr_env, tmp_path):
    """Another environment's cluster on the same host, sharing pitr_env's backup directory."""
    name = f"{pitr_env.name[:40]}_2"
    port = free_port(p for p in worker_ports() if p != pitr_env.port)
    directory = tmp_path / "second"
    directory.mkdir()
    other = EnvFile(directory, name, port, base_environment(name, port))
    enable_shop_backups(other, pitr_env.backup_dir, keep=2)
    other.data["backups"].update({"method": "pgbackrest", "verify": True})
    other.write()
    yield other
    drop_cluster(15, name)
    Path(stanza_config_path(name)).unlink(missing_ok=True)
    for path in (cron_file_path(name), backup_config_path(name)):
        Path(path).unlink(missing_ok=True)
    for log in PGBACKREST_LOGS.glob(f"{name}-*.log"):
        log.unlink()


def test_plain_info_lists_every_stanza_of_a_shared_repository_and_says_which_it_cannot(
        pitr_env, second_cluster, tmp_path):
    apply(pitr_env.path, pitr_env.state_dir)
    apply(second_cluster.path, second_cluster.state_dir)
    listed = plain_info()
    assert f"stanza: {pitr_env.name}\n" in listed and f"stanza: {second_cluster.name}\n" in listed
    # Each environment reads the other's stanza file and keeps the same [global]: no flip-flop.
    assert apply(pitr_env.path, pitr_env.state_dir).changed == []
    assert apply(second_cluster.path, second_cluster.state_dir).changed == []
    # Both stanzas archive and back up into their own paths of the shared repository.
    for env in (pitr_env, second_cluster):
        check = subprocess.run(["runuser", "-u", "postgres", "--", "pgbackrest",
                                f"--stanza={env.name}", "check"], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr

    # A repository of its own: the second stanza still works, [global] stays with the first
    # (the only one left there; ties go to the first path), and the apply says why.
    second_cluster.data["backups"]["dir"] = str(PITR_DIRS / f"{second_cluster.name}-own")
    second_cluster.write()
    try:
        moved = apply(second_cluster.path, second_cluster.state_dir)
        assert "`pgbackrest info` without --stanza lists those in" in moved.stderr
        assert pgbackrest_info(second_cluster.name)["db"]
        assert apply(pitr_env.path, pitr_env.state_dir).changed == []
        assert apply(second_cluster.path, second_cluster.state_dir).changed == []
    finally:
        shutil.rmtree(PITR_DIRS / f"{second_cluster.name}-own", ignore_errors=True)


def test_dry_run_predicts_the_switch_from_pg_dump_to_pgbackrest(pitr_env):
    pitr_env.data["backups"]["method"] = "pg_dump"
    pitr_env.write()
    apply(pitr_env.path, pitr_env.state_dir)
    pitr_env.data["backups"]["method"] = "pgbackrest"
    pitr_env.write()
    predicted = set(dry(pitr_env.path, pitr_env.state_dir).changed)
    for expected in (f"pgBackRest stanza {pitr_env.name}", f"Parameters of 15/{pitr_env.name}",
                     "Backup schedule"):
        assert any(expected in name for name in predicted), (expected, predicted)
    assert set(apply(pitr_env.path, pitr_env.state_dir).changed) == predicted
    assert show(pitr_env.port, "archive_mode") == "on"


def test_pgbackrest_check_proves_wal_archiving(pitr_env):
    apply(pitr_env.path, pitr_env.state_dir)
    proc = subprocess.run(["runuser", "-u", "postgres", "--", "pgbackrest",
                           f"--stanza={pitr_env.name}", "check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    archived = sql(pitr_env.port, "SELECT archived_count FROM pg_stat_archiver")
    assert int(archived) >= 1


def test_cron_command_makes_a_verified_full_backup(pitr_env):
    apply(pitr_env.path, pitr_env.state_dir)
    sql(pitr_env.port, "CREATE TABLE sales.orders (id int PRIMARY KEY)", "shop")
    sql(pitr_env.port, "INSERT INTO sales.orders SELECT generate_series(1, 321)", "shop")
    run_cron_command(pitr_env)
    backups = pgbackrest_info(pitr_env.name)["backup"]
    assert [b["type"] for b in backups] == ["full"]
    last = json.loads((pitr_env.backup_dir / "last-run.json").read_text())
    assert (last["status"], last["verified"], last["backup"]) == \
        ("ok", True, backups[0]["label"])
    # The drill restored the backup and read every table of every database: shop's 321 rows
    # are all the rows the cluster holds.
    assert last["drill"]["rows"] == 321 and last["drill"]["tables"] == 1
    assert not (pitr_env.backup_dir / ".drill").exists()

    listing = pgstead(pitr_env, "backups", str(pitr_env.path), "--format", "json")
    assert listing.returncode == 0, listing.stderr
    (host,) = json.loads(listing.stdout)
    assert [(s["set"], s["type"], s["status"]) for s in host["sets"]] == \
        [(backups[0]["label"], "full", "ok")]
    assert host["last_run"]["status"] == "ok"
    text = pgstead(pitr_env, "backups", str(pitr_env.path)).stdout
    assert backups[0]["label"] in text and "pgBackRest backups" in text


def test_verify_catches_a_corrupted_backup(pitr_env):
    apply(pitr_env.path, pitr_env.state_dir)
    run_cron_command(pitr_env)
    (label,) = [b["label"] for b in pgbackrest_info(pitr_env.name)["backup"]]
    backup = pitr_env.backup_dir / "pgbackrest" / "backup" / pitr_env.name / label
    victim = max((p for p in backup.rglob("*") if p.is_file() and "pg_data" in p.parts),
                 key=lambda p: p.stat().st_size)
    with victim.open("r+b") as file:
        file.seek(victim.stat().st_size // 2)
        file.write(b"not what was backed up")
    user, command = cron_job(pitr_env.name)
    assert subprocess.run(["runuser", "-u", user, "--", "sh", "-c", command]).returncode == 1
    last = json.loads((pitr_env.backup_dir / "last-run.json").read_text())
    assert (last["status"], last["verified"]) == ("failed", False)
    assert label in last["error"]


def test_retention_keeps_keep_full_backups(pitr_env):
    apply(pitr_env.path, pitr_env.state_dir)
    labels = []
    for _ in range(3):
        run_cron_command(pitr_env)
        labels.append(pgbackrest_info(pitr_env.name)["backup"][-1]["label"])
        time.sleep(1)  # labels are per second
    kept = [b["label"] for b in pgbackrest_info(pitr_env.name)["backup"]]
    assert kept == labels[1:]


def test_restore_to_a_time_gives_a_new_cluster_with_only_the_earlier_rows(pitr_env):
    apply(pitr_env.path, pitr_env.state_dir)
    port = pitr_env.port
    sql(port, "CREATE TABLE sales.orders (id int PRIMARY KEY)", "shop")
    sql(port, "INSERT INTO sales.orders SELECT generate_series(1, 100)", "shop")
    run_cron_command(pitr_env)
    sql(port, "INSERT INTO sales.orders SELECT generate_series(101, 150)", "shop")
    time.sleep(1)
    target = sql(port, "SELECT now()")
    time.sleep(1)
    sql(port, "INSERT INTO sales.orders SELECT generate_series(151, 400)", "shop")
    sql(port, "SELECT pg_switch_wal()")
    live_start = sql(port, "SELECT pg_postmaster_start_time()")

    new = f"{pitr_env.name}_pitr"
    proc = pgstead(pitr_env, "restore", str(pitr_env.path), "--host", "@local",
                   "--to-time", target, "--into", new, "--port", str(free_port()),
                   "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    restored = json.loads(proc.stdout)["cluster"]
    assert restored["cluster"] == new and restored["port"] != port
    assert sql(restored["port"], "SELECT count(*), max(id) FROM sales.orders", "shop") == "150|150"
    assert sql(restored["port"], "SELECT pg_is_in_recovery()") == "f"
    # The live cluster was not touched: same rows, never restarted.
    assert sql(port, "SELECT count(*) FROM sales.orders", "shop") == "400"
    assert sql(port, "SELECT pg_postmaster_start_time()") == live_start
    # The copy does not push its WAL into the live cluster's stanza.
    assert show(restored["port"], "archive_mode") == "off"

    # A time after the newest archived commit cannot be told reached: refused, nothing left.
    later = sql(port, "SELECT now()")
    proc = pgstead(pitr_env, "restore", str(pitr_env.path), "--host", "@local",
                   "--to-time", later, "--into", f"{new}2", "--port", str(free_port()))
    assert proc.returncode == 1
    assert "no transaction committed after" in proc.stderr
    assert restored_clusters(pitr_env.name) == [new]


def test_pgbackrest_with_compose_is_refused_before_any_host_is_touched(pitr_env):
    pitr_env.data["postgres"]["install"] = "compose"
    pitr_env.data["compose"] = {"project_dir": f"/opt/pgstead/{pitr_env.name}"}
    pitr_env.write()
    run = pyinfra("@local", env_file=pitr_env.path, state_dir=pitr_env.state_dir,
                  json_report=False)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "backups.method: pgbackrest needs a native cluster" in run.stdout + run.stderr
    assert not Path(stanza_config_path(pitr_env.name)).exists()


def test_restart_policy_never_archives_only_after_the_owners_restart(pitr_env):
    pitr_env.data["backups"]["method"] = "pg_dump"
    pitr_env.data["postgres"]["restart_policy"] = "never"
    pitr_env.write()
    apply(pitr_env.path, pitr_env.state_dir)
    started = postmaster_start(pitr_env.port)

    pitr_env.data["backups"]["method"] = "pgbackrest"
    pitr_env.write()
    apply(pitr_env.path, pitr_env.state_dir)
    assert postmaster_start(pitr_env.port) == started, "restart_policy: never restarted"
    assert sql(pitr_env.port, "SELECT pending_restart FROM pg_settings "
                              "WHERE name = 'archive_mode'") == "t"
    assert pgbackrest_info(pitr_env.name)["db"], "the stanza was not created"
    assert apply(pitr_env.path, pitr_env.state_dir).changed == []

    subprocess.run(["pg_ctlcluster", "15", pitr_env.name, "restart"], check=True)
    assert show(pitr_env.port, "archive_mode") == "on"
    assert apply(pitr_env.path, pitr_env.state_dir).changed == []
    proc = subprocess.run(["runuser", "-u", "postgres", "--", "pgbackrest",
                           f"--stanza={pitr_env.name}", "check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
