"""Day-two changes on a running Patroni + etcd cluster: a reload-class and a restart-class
setting, a leftover ALTER SYSTEM value, a fourth host, and etcd members going away.

One cluster for the module, from the image with the HA packages installed (the fresh-host
path is test_ha_cluster's); the tests run in file order, each leaving a converged cluster.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from tests.ha_cluster import (
    BOOT,
    HA_IMAGE,
    Cluster,
    assert_converged,
    assert_ok,
    changes,
    ha_cluster,
    unnamed,
    wait_for,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

NAMES = ["db1", "db2", "db3"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    with ha_cluster(tmp_path_factory.mktemp("ha-changes"), NAMES, image=HA_IMAGE) as c:
        c.fresh_dry = c.run("--dry")
        assert_ok(c.fresh_dry, "dry run on the fresh hosts")
        c.first = c.run()
        assert_ok(c.first, "first apply")
        yield c


def test_on_fresh_hosts_the_dry_run_is_the_first_apply(cluster):
    """The first member alone can create the cluster (its Patroni file alone has the
    bootstrap section), so the plan knows it leads: roles, databases and grants are planned
    there, as plain changes, and nowhere else."""
    planned = unnamed(changes(cluster.fresh_dry), NAMES)
    assert planned == unnamed(changes(cluster.first), NAMES)
    conditional = {h for op in cluster.fresh_dry.report["plan"]
                   for h in op["hosts_with_conditional_change"]}
    assert conditional == set(), conditional
    access = {h for op, h in planned if op.startswith("PostgreSQL access |")}
    assert access == {"db1"}, planned
    assert cluster.leader().name == "db1"


def start_times(c: Cluster) -> dict[str, str]:
    return {h.name: c.sql(h, "SELECT pg_postmaster_start_time()") for h in c.fleet.hosts}


def setting_everywhere(c: Cluster, name: str) -> set[str]:
    return {c.sql(h, f"SHOW {name}") for h in c.fleet.hosts}


def pending_anywhere(c: Cluster) -> bool:
    return any(c.sql(h, "SELECT bool_or(pending_restart) FROM pg_settings") == "t"
               for h in c.fleet.hosts)


def config_rewritten() -> set[tuple[str, str]]:
    """A cluster-wide change also rewrites the first member's Patroni file (its bootstrap
    section, which a new cluster would start from; the others have none) and has Patroni
    re-read it: no restart."""
    return {("Patroni | Patroni config of *", "db1"), ("Patroni | Patroni member * runs", "db1")}


def normalised(found: set[tuple[str, str]]) -> set[tuple[str, str]]:
    return unnamed(found, NAMES + ["db4"])


def set_setting(c: Cluster, name: str, value: str) -> None:
    data = c.data
    data["postgres"]["settings"][name] = value
    c.write(data)


def test_a_reload_setting_reaches_every_member_without_a_restart(cluster):
    before = start_times(cluster)
    set_setting(cluster, "log_min_duration_statement", "250ms")
    leader = cluster.leader()
    dry = cluster.run("--dry")
    assert_ok(dry, "dry run")
    # Only the leader writes the dynamic configuration; nothing restarts.
    assert normalised(changes(dry)) == config_rewritten() | {
        ("PostgreSQL settings | Patroni dynamic configuration of hatest", leader.name)}
    assert_ok(cluster.run(), "apply")
    wait_for(lambda: setting_everywhere(cluster, "log_min_duration_statement") == {"250ms"},
             "log_min_duration_statement on every member")
    assert start_times(cluster) == before
    again = cluster.run()
    assert_ok(again, "second apply")
    assert changes(again) == set()


def test_a_restart_setting_is_rolled_out_by_patroni_with_nothing_pending_after(cluster):
    before = start_times(cluster)
    set_setting(cluster, "max_files_per_process", "900")
    leader = cluster.leader()
    dry = cluster.run("--dry")
    assert_ok(dry, "dry run")
    assert normalised(changes(dry)) == config_rewritten() | {
        ("PostgreSQL settings | Patroni dynamic configuration of hatest", leader.name),
        ("PostgreSQL settings | Rolling restart of hatest where a parameter needs it",
         leader.name),
    }
    assert_ok(cluster.run(), "apply")
    assert setting_everywhere(cluster, "max_files_per_process") == {"900"}
    assert not pending_anywhere(cluster)
    after = start_times(cluster)
    assert all(after[name] != before[name] for name in before), (before, after)
    # A rolling restart keeps the leader: no failover was needed for it.
    assert cluster.leader() is leader
    again = cluster.run()
    assert_ok(again, "second apply")
    assert changes(again) == set()


def test_a_leftover_alter_system_value_is_reset(cluster):
    replica = next(h for h in cluster.fleet.hosts if h is not cluster.leader())
    cluster.sql(replica, "ALTER SYSTEM SET work_mem = '7MB'")
    dry = cluster.run("--dry")
    assert_ok(dry, "dry run")
    assert changes(dry) == {("PostgreSQL settings | No ALTER SYSTEM values on 15/hatest:5432",
                             replica.name)}
    assert_ok(cluster.run(), "apply")
    assert cluster.sql(replica, "SELECT count(*) FROM pg_file_settings "
                                "WHERE sourcefile LIKE '%postgresql.auto.conf'") == "0"
    again = cluster.run()
    assert_ok(again, "second apply")
    assert changes(again) == set()


def test_an_access_change_is_planned_on_the_leader_and_applied_as_planned(cluster):
    data = cluster.data
    data["users"][0]["connection_limit"] = 17
    cluster.write(data)
    leader = cluster.leader()
    dry = cluster.run("--dry")
    assert_ok(dry, "dry run")
    planned = changes(dry)
    # Named in the plan, on the leader alone (replicas get it by replication).
    assert {h for _, h in planned} == {leader.name}, planned
    assert any(op.startswith("PostgreSQL access | Login roles") for op, _ in planned), planned
    applied = cluster.run()
    assert_ok(applied, "apply")
    assert changes(applied) == planned
    limit = f"SELECT rolconnlimit FROM pg_roles WHERE rolname = '{data['users'][0]['name']}'"
    wait_for(lambda: {cluster.sql(h, limit) for h in cluster.fleet.hosts} == {"17"},
             "the new limit on every member")
    assert_converged(cluster)

def test_a_fourth_host_joins_as_a_replica_and_the_others_keep_running(cluster):
    before = start_times(cluster)
    etcd_before = etcd_members(cluster)
    # Four hosts would make an even etcd count: the file names the three etcd members.
    data = cluster.data
    data["ha"]["dcs"] = {"hosts": NAMES}
    cluster.write(data)
    cluster.fleet.add("db4", image=HA_IMAGE, init=True, env=BOOT)
    cluster.write_inventory()
    assert_ok(cluster.run(), "apply with db4")
    db4 = cluster.fleet.host("db4")
    leader = cluster.leader()
    wait_for(lambda: "db4" in cluster.sql(leader, "SELECT string_agg(application_name, ',') "
                                                  "FROM pg_stat_replication "
                                                  "WHERE state = 'streaming'"),
             "db4 streaming")
    assert cluster.sql(db4, "SELECT pg_is_in_recovery()") == "t"
    after = start_times(cluster)
    assert {name: after[name] for name in before} == before
    # The etcd membership stays as declared.
    assert etcd_members(cluster) == etcd_before
    again = cluster.run()
    assert_ok(again, "second apply")
    assert changes(again) == set()


def etcd_members(c: Cluster) -> list[str]:
    h = c.fleet.hosts[0]
    out = h.exec("etcdctl", "--endpoints=https://127.0.0.1:2379",
                 "--cacert=/etc/pgstead/etcd/ca.crt", "--cert=/etc/pgstead/etcd/member.crt",
                 "--key=/etc/pgstead/etcd/member.key", "member", "list").stdout
    return sorted(line.split(", ")[2] for line in out.splitlines() if line)


class Writer(threading.Thread):
    """Commits numbered rows through the multi-host URL, counting the acknowledged ones."""

    def __init__(self, c: Cluster) -> None:
        super().__init__(daemon=True)
        self.c = c
        self.acked: list[int] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        conn = None
        while not self.stop.is_set():
            n += 1
            try:
                conn = conn or self.c.connect()
                conn.execute("INSERT INTO etcd_rows (n) VALUES (%s)", (n,))
                self.acked.append(n)
            except psycopg.Error as error:
                self.errors.append(str(error))
                conn = None
            time.sleep(0.05)


def stop_etcd(h) -> None:
    h.exec("/usr/local/sbin/pgstead-supervise", "stop", "etcd", "30")


def test_writes_go_on_with_one_etcd_member_stopped_and_failsafe_keeps_the_leader_with_two(
        cluster):
    with cluster.connect() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS etcd_rows (n int PRIMARY KEY)")
    leader = cluster.leader()
    etcd_hosts = [h for h in cluster.fleet.hosts if h.name in NAMES]
    others = [h for h in etcd_hosts if h is not leader]
    writer = Writer(cluster)
    writer.start()
    try:
        stop_etcd(others[0])
        count = len(writer.acked)
        wait_for(lambda: len(writer.acked) > count + 40, "writes with one etcd member stopped")
        # Without a quorum Patroni cannot renew the leader lock; with failsafe_mode the leader
        # stays primary while every member answers its /failsafe call (Patroni's docs).
        stop_etcd(others[1])
        wait_for(lambda: (cluster.patroni(leader) or {}).get("member", {})
                 .get("failsafe_mode_is_active"), "the leader in failsafe mode", timeout=120)
        count = len(writer.acked)
        wait_for(lambda: len(writer.acked) > count + 40,
                 "writes with two of three etcd members stopped (failsafe)")
        assert cluster.sql(leader, "SELECT pg_is_in_recovery()") == "f"
    finally:
        writer.stop.set()
        writer.join(30)
    # The next apply starts the stopped members again, and changes nothing else.
    run = cluster.run()
    assert_ok(run, "apply after etcd members stopped")
    changed = changes(run)
    assert {h for _, h in changed} == {h.name for h in others}, changed
    assert all("etcd member" in op and op.endswith("runs") for op, _ in changed), changed
    wait_for(lambda: len(etcd_members(cluster)) == 3, "etcd members back")
    again = cluster.run()
    assert_ok(again, "second apply")
    assert changes(again) == set()
