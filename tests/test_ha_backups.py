"""pgBackRest in a Patroni cluster, for real: WAL archived through Patroni's dynamic
configuration into one stanza in a repository every member mounts (a Docker volume standing in
for NFS), the stanza created on the leader, the scheduled job doing its work on the leader only,
a point-in-time restore into a new standalone cluster that leaves the live cluster's members,
timeline and leader alone, a new member cloned from the repository (ha.replica_method:
pgbackrest; the first members fell back to pg_basebackup, the stanza did not exist yet), a
failover after which the new leader archives and backs up, and `pgstead audit` on every
member. One cluster for the module, from the HA image; the tests run in file order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest
import yaml

from tests.ha_cluster import (
    BOOT,
    HA_IMAGE,
    Cluster,
    assert_converged,
    assert_ok,
    changes,
    environment,
    wait_for,
)
from tests.hosts import FleetHost, docker, fleet, unique
from tests.pgstead_run import ROOT

pytestmark = [pytest.mark.docker, pytest.mark.slow]

NAME = "pitrha"  # the environment, so Patroni's scope and the stanza
NAMES = ["db1", "db2", "db3"]
BACKUP_DIR = "/var/backups/pgstead"
PROGRAM_LOG = f"{BACKUP_DIR}/pgstead-pgbackrest.log"
PATRONI_LOG = "/var/log/pgstead/patroni.log"
ARCHIVE_COMMAND = f"pgbackrest --stanza={NAME} archive-push %p"
COPY = "pitrcopy"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp("ha-backups")
    volume = unique("pgstead-pitr-repo")
    docker("volume", "create", volume)
    try:
        with fleet(directory, NAMES, image=HA_IMAGE, static=True, init=True, env=BOOT,
                   volumes=(f"{volume}:{BACKUP_DIR}",)) as hosts:
            inventory = directory / f"{NAME}.py"
            hosts.write_inventory(inventory)
            data = environment(NAME, hosts.subnet, replica_method="pgbackrest",
                               dcs={"hosts": NAMES})
            # A schedule that never fires during the test: the tests run the job as cron would.
            data["backups"] = {"method": "pgbackrest", "schedule": "0 3 1 1 *", "keep": 3}
            env_path = directory / f"{NAME}.yml"
            env_path.write_text(yaml.safe_dump(data, sort_keys=False))
            c = Cluster(hosts, directory, inventory, env_path, directory / "state", NAME)
            c.first = c.run()
            assert_ok(c.first, "first apply")
            yield c
    finally:
        docker("volume", "rm", "--force", volume, check=False)


def pgstead(c: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pgstead.cli", *args, str(c.env_path), "--inventory",
         str(c.inventory)], capture_output=True, text=True, timeout=900, check=False,
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT),
                       "PGSTEAD_STATE_DIR": str(c.state_dir)})


def healthy(c: Cluster) -> dict | None:
    out = pgstead(c, "cluster", "--format", "json")
    return json.loads(out.stdout) if out.returncode == 0 else None


def shape(report: dict) -> dict:
    """What a restore must not change: who the members are, who leads, on which timeline."""
    return {"members": sorted(r["host"] for r in report["members"]),
            "leader": next(r["host"] for r in report["members"] if r["role"] == "leader"),
            "timeline": max(r["timeline"] for r in report["members"] if r["role"] == "leader")}


def backup_job(h: FleetHost) -> subprocess.CompletedProcess[str]:
    """The cron entry's command, run as its user, as cron would run it."""
    line = next(row for row in h.exec("cat", f"/etc/cron.d/pgstead-backup-{NAME}").stdout
                .splitlines() if row and not row.startswith("#") and "=" not in row.split()[0])
    fields = line.split(None, 6)
    # Its output is kept here (cron throws it away), so a failure shows its message.
    user, command = fields[5], fields[6].removesuffix(" >/dev/null 2>&1")
    return h.exec("runuser", "-u", user, "--", "sh", "-c", command, check=False)


def info(h: FleetHost) -> dict:
    out = h.exec("runuser", "-u", "postgres", "--", "pgbackrest", f"--stanza={NAME}",
                 "--output=json", "info")
    return json.loads(out.stdout)[0]


def archived_after_switch(c: Cluster, leader: FleetHost) -> str:
    """Switch WAL on the leader and wait until that segment is in the archive."""
    segment = c.sql(leader, "SELECT pg_walfile_name(pg_switch_wal())")
    wait_for(lambda: c.sql(leader, "SELECT last_archived_wal FROM pg_stat_archiver")
             >= segment, f"{segment} archived by {leader.name}", timeout=120)
    return segment


def test_archiving_is_in_the_dynamic_configuration_and_the_stanza_on_the_shared_repository(
        cluster):
    leader = wait_for(cluster.leader, "a leader")
    parameters = cluster.patroni(leader)["config"]["postgresql"]["parameters"]
    assert parameters["archive_mode"] == "on"
    assert parameters["archive_command"] == ARCHIVE_COMMAND
    for h in cluster.fleet.hosts:
        assert cluster.sql(h, "SHOW archive_command") == ARCHIVE_COMMAND, h.name
        # Never ALTER SYSTEM: nothing in any member's postgresql.auto.conf.
        assert cluster.sql(h, "SELECT count(*) FROM pg_file_settings WHERE sourcefile LIKE "
                              "'%postgresql.auto.conf'") == "0", h.name
        # Every member has the stanza's config and sees the stanza the leader created.
        assert f"pg1-path=/var/lib/postgresql/15/{NAME}" in h.exec(
            "cat", f"/etc/pgbackrest/conf.d/{NAME}.conf").stdout
        assert info(h)["status"]["code"] in (0, 2), (h.name, info(h))  # ok / no backup yet
    # The leader created and checked it: check switched WAL and found it archived.
    assert int(cluster.sql(leader, "SELECT archived_count FROM pg_stat_archiver")) >= 1
    created = leader.exec("cat", PROGRAM_LOG).stdout
    assert f"stanza {NAME} created and checked" in created
    assert "this server is a replica: the leader creates stanza" in created


def test_the_first_replicas_fell_back_to_pg_basebackup_while_the_stanza_did_not_exist(cluster):
    leader = cluster.leader()
    for h in cluster.fleet.hosts:
        if h is leader:
            continue
        log = h.exec("cat", PATRONI_LOG).stdout
        assert "Error creating replica using method pgbackrest" in log, (h.name, log[-3000:])
        assert "replica has been created using basebackup" in log, h.name


def test_second_apply_changes_nothing_and_a_dry_run_predicts_nothing(cluster):
    assert_converged(cluster)


def test_a_dry_run_predicts_a_backups_change_on_every_member(cluster):
    data = cluster.data
    data["backups"]["keep"] = 2
    cluster.write(data)
    dry = cluster.run("--dry")
    assert_ok(dry, "dry run of a changed keep")
    planned = changes(dry)
    assert {h for _, h in planned} == set(NAMES), planned
    applied = cluster.run()
    assert_ok(applied, "apply of a changed keep")
    assert changes(applied) == planned
    for h in cluster.fleet.hosts:
        assert "repo1-retention-full=2\n" in h.exec(
            "cat", f"/etc/pgbackrest/conf.d/{NAME}.conf").stdout
    again = cluster.run()
    assert_ok(again, "second apply of a changed keep")
    assert changes(again) == set()


def test_audit_passes_on_every_member(cluster):
    out = pgstead(cluster, "audit")
    assert out.returncode == 0, out.stdout + out.stderr
    for name in NAMES:
        assert name in out.stdout, out.stdout


def test_the_scheduled_job_backs_up_on_the_leader_only_and_says_so_on_replicas(cluster):
    leader = wait_for(cluster.leader, "a leader")
    for h in cluster.fleet.hosts:
        if h is leader:
            continue
        run = backup_job(h)
        assert run.returncode == 0, (h.name, run.stdout + run.stderr)
    assert info(leader)["backup"] == [], "a replica took a backup"
    log = leader.exec("cat", PROGRAM_LOG).stdout
    assert "this server is a replica: backups of stanza" in log
    run = backup_job(leader)
    assert run.returncode == 0, run.stdout + run.stderr
    (backup,) = info(leader)["backup"]
    assert backup["type"] == "full"
    last = json.loads(leader.exec("cat", f"{BACKUP_DIR}/last-run.json").stdout)
    assert last["status"] == "ok" and last["verified"] is True, last
    listed = pgstead(cluster, "backups")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert backup["label"] in listed.stdout


def test_point_in_time_restore_leaves_the_live_cluster_alone(cluster):
    before = shape(wait_for(lambda: healthy(cluster), "a healthy cluster"))
    leader = cluster.fleet.host(before["leader"])
    with cluster.connect() as conn:
        conn.execute("CREATE TABLE pitr_rows (n int PRIMARY KEY, phase text)")
        conn.execute("INSERT INTO pitr_rows SELECT n, 'before' FROM generate_series(1, 100) n")
        target = conn.execute("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                              "'YYYY-MM-DD HH24:MI:SS.US+00')").fetchone()[0]
        # Wall-clock time must pass the target before the next commit (a commit in the same
        # microsecond would count as before it).
        conn.execute("SELECT pg_sleep(0.1)")
        conn.execute("INSERT INTO pitr_rows SELECT n, 'after' FROM generate_series(101, 200) n")
    archived_after_switch(cluster, leader)
    out = pgstead(cluster, "restore", "--to-time", target, "--into", COPY, "--format", "json")
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads(out.stdout)
    assert result["host"] == leader.name and result["ok"], result
    copy = result["cluster"]
    where = cluster.fleet.host(result["host"])
    try:
        port = str(copy["port"])
        assert port != "5432"
        rows = where.exec("runuser", "-u", "postgres", "--", "psql", "-X", "-A", "-t", "-p",
                          port, "-d", "app", "-c",
                          "SELECT phase, count(*) FROM pitr_rows GROUP BY 1").stdout.split()
        assert rows == ["before|100"], rows
        # A standalone cluster: no Patroni runs it, archive_mode is off.
        assert where.exec("runuser", "-u", "postgres", "--", "psql", "-X", "-A", "-t", "-p",
                          port, "-c", "SHOW archive_mode").stdout.strip() == "off"
        after = shape(wait_for(lambda: healthy(cluster), "the cluster still healthy"))
        assert after == before
        names = [m["name"] for m in cluster.patroni(leader)["cluster"]["members"]]
        assert sorted(names) == NAMES
        with psycopg.connect(cluster.multi_host_url(), password=cluster.password()) as conn:
            assert conn.execute("SELECT count(*) FROM pitr_rows").fetchone()[0] == 200
    finally:
        where.exec("pg_dropcluster", "--stop", "15", COPY, check=False)


def test_a_new_member_is_cloned_from_the_repository(cluster):
    cluster.fleet.add("db4", image=HA_IMAGE, init=True, env=BOOT)
    cluster.write_inventory()
    first = cluster.run()
    assert_ok(first, "apply with a fourth member")
    db4 = cluster.fleet.host("db4")
    wait_for(lambda: any(r["host"] == "db4" and r["state"] in ("running", "streaming")
                         for r in (healthy(cluster) or {"members": []})["members"]),
             "db4 streaming", timeout=300)
    log = db4.exec("cat", PATRONI_LOG).stdout
    assert "replica has been created using pgbackrest" in log, log[-3000:]
    assert "created using basebackup" not in log
    restored = db4.exec("cat", PROGRAM_LOG).stdout
    assert "replica data restored from stanza" in restored
    # pgBackRest's own log of the restore, on db4.
    assert "restore command end: completed successfully" in db4.exec(
        "sh", "-c", f"cat /var/log/pgbackrest/{NAME}-restore.log").stdout
    again = cluster.run()
    assert_ok(again, "second apply with four members")
    assert changes(again) == set()


def test_after_a_failover_the_new_leader_archives_and_backs_up(cluster):
    old = wait_for(cluster.leader, "a leader")
    timeline = shape(healthy(cluster))["timeline"]
    wait_for(cluster.synchronous_standby, "a synchronous standby")
    docker("kill", old.container)
    new = cluster.new_leader(old, timeout=120)
    segment = archived_after_switch(cluster, new)
    assert int(segment[:8], 16) > timeline, segment  # archived on the new timeline
    run = backup_job(new)
    assert run.returncode == 0, run.stdout + run.stderr
    backups = info(new)["backup"]
    assert len(backups) == 2 and backups[-1]["archive"]["start"][:8] == segment[:8], backups
    cluster.fleet.start_again(old)
    wait_for(lambda: healthy(cluster), f"{old.name} rejoining", timeout=300)
    again = cluster.run()
    assert_ok(again, "apply after the failover")
    assert changes(again) == set()
