"""Day-to-day operations on a Patroni cluster, for real: `pgstead cluster` on a healthy
cluster, after a member is killed (exit 1 naming it) and after it rejoins; `pgstead
switchover --to` a member (it leads afterwards, no acknowledged commit lost, the window
printed) and refused to a stopped member. One cluster for the module, from the HA image; the
tests run in file order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import psycopg
import pytest
import yaml

from tests.ha_clients import Writer
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
from tests.hosts import docker, fleet
from tests.pgstead_run import ROOT

pytestmark = [pytest.mark.docker, pytest.mark.slow]

NAMES = ["db1", "db2", "db3"]
SUPERVISE = "/usr/local/sbin/pgstead-supervise"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    """Containers with NET_ADMIN, so keepalived can move ha.vip between them."""
    directory = tmp_path_factory.mktemp("ha-ops")
    with fleet(directory, NAMES, image=HA_IMAGE, static=True, init=True, env=BOOT,
               caps=("NET_ADMIN",)) as hosts:
        inventory = directory / "haops.py"
        hosts.write_inventory(inventory)
        vip = hosts.subnet.rsplit(".", 1)[0] + ".50/24"
        env_path = directory / "haops.yml"
        env_path.write_text(yaml.safe_dump(
            environment("haops", hosts.subnet, vip=vip, interface="eth0"), sort_keys=False))
        c = Cluster(hosts, directory, inventory, env_path, directory / "state", "haops")
        c.first = c.run()
        assert_ok(c.first, "first apply")
        yield c


def vip(c: Cluster) -> str:
    return c.data["ha"]["vip"].split("/")[0]


def holders(c: Cluster) -> list[str]:
    """The hosts whose eth0 carries the virtual address."""
    return [h.name for h in c.fleet.hosts
            if f"inet {vip(c)}/" in h.exec("ip", "-4", "addr", "show", "eth0",
                                           check=False).stdout]


def through_vip(c: Cluster) -> str | None:
    """The address of the server a connection to the virtual address's leader port reaches
    (PostgreSQL listens on the member's own address; HAProxy on every address)."""
    url = (f"host={vip(c)} port=5000 dbname=app user=app_owner sslmode=verify-full "
           f"sslrootcert={c.ca} connect_timeout=3")
    try:
        with psycopg.connect(url, password=c.password()) as conn:
            return conn.execute("SELECT host(inet_server_addr())").fetchone()[0]
    except psycopg.OperationalError:
        return None


def pgstead(c: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pgstead.cli", *args, str(c.env_path), "--inventory",
         str(c.inventory)], capture_output=True, text=True, timeout=300, check=False,
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT),
                       "PGSTEAD_STATE_DIR": str(c.state_dir)})


def members(c: Cluster) -> tuple[int, dict, str]:
    out = pgstead(c, "cluster", "--format", "json")
    return out.returncode, json.loads(out.stdout), out.stderr


def healthy(c: Cluster) -> dict | None:
    code, report, _ = members(c)
    return report if code == 0 else None


def test_cluster_shows_one_leader_and_two_replicas_in_sync(cluster):
    report = wait_for(lambda: healthy(cluster), "pgstead cluster exiting 0")
    rows = {r["host"]: r for r in report["members"]}
    assert sorted(rows) == NAMES
    leader = cluster.leader()
    assert rows[leader.name]["role"] == "leader"
    replicas = [r for name, r in rows.items() if name != leader.name]
    assert all(r["role"] == "replica" and r["state"] in ("running", "streaming")
               for r in replicas), replicas
    assert all(isinstance(r["lag_bytes"], int) and r["lag_bytes"] >= 0 for r in replicas)
    assert all(isinstance(r["lag_seconds"], float) for r in replicas)
    # synchronous: on: Patroni names one synchronous standby.
    assert sum(r["sync"] for r in replicas) == 1
    timeline = rows[leader.name]["timeline"]
    assert isinstance(timeline, int) and timeline >= 1
    assert report["problems"] == []
    assert report["warnings"] == []  # it has its synchronous standby
    text = pgstead(cluster, "cluster")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split()[:4] == ["host", "address", "role", "state"]
    assert sorted(line.split()[0] for line in lines[1:]) == NAMES


def test_the_virtual_address_sits_on_the_leader_only_and_reaches_it(cluster):
    leader = cluster.leader()
    wait_for(lambda: holders(cluster) == [leader.name], f"{vip(cluster)} on {leader.name} only",
             timeout=60)
    assert wait_for(lambda: through_vip(cluster), "a connection to the virtual address") \
        == leader.address


def test_second_apply_changes_nothing_and_a_dry_run_predicts_nothing(cluster):
    assert_converged(cluster)


def test_switchover_to_a_named_member_loses_nothing_and_prints_the_window(cluster):
    report = wait_for(lambda: healthy(cluster), "a healthy cluster")
    old = cluster.leader()
    # The replica that is not the synchronous standby: Patroni alone would refuse it.
    target = next(r["host"] for r in report["members"]
                  if r["role"] == "replica" and not r["sync"])
    with cluster.connect() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS ha_rows (n int PRIMARY KEY)")
        conn.execute("TRUNCATE ha_rows")
    writer = Writer(cluster, cluster.multi_host_url())
    writer.start()
    wait_for(lambda: len(writer.acked) > 50, "the writer's first commits")
    out = pgstead(cluster, "switchover", "--to", target)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{old.name} -> {target}" in out.stdout
    assert "no member took writes for" in out.stdout
    before = len(writer.acked)
    wait_for(lambda: len(writer.acked) > before + 50, "the writer carrying on")
    writer.stop.set()
    writer.join(30)
    assert cluster.leader().name == target
    with psycopg.connect(cluster.multi_host_url(), password=cluster.password()) as conn:
        stored = {n for (n,) in conn.execute("SELECT n FROM ha_rows")}
    assert [n for n in writer.acked if n not in stored] == []
    print(f"\nha ops: {out.stdout.strip()}", file=sys.stderr)
    # The synchronous count raised for the switchover is back as it was.
    config = cluster.patroni(cluster.fleet.host(target))["config"]
    assert config.get("synchronous_node_count") in (None, 1), config
    # The virtual address followed the leader.
    wait_for(lambda: holders(cluster) == [target], f"{vip(cluster)} moving to {target}",
             timeout=60)
    assert wait_for(lambda: through_vip(cluster) == cluster.fleet.host(target).address,
                    "the virtual address reaching the new leader", timeout=60)


def test_a_new_leader_hands_etcds_leadership_to_another_member(cluster):
    """A host holding both leaders takes both down when it dies, and a new etcd leader grants
    the dead leader's key a whole ttl again: the new PostgreSQL leader's Patroni callback
    moves etcd's leadership off its host."""
    wait_for(lambda: healthy(cluster), "a healthy cluster")
    target = next(h for h in cluster.fleet.hosts if h is not cluster.leader())
    cluster.move_etcd_leader(target)
    # Every member learns the new leader from its heartbeats: until then they disagree.
    wait_for(lambda: cluster.etcd_leader() is target, f"etcd led from {target.name}",
             timeout=60)
    out = pgstead(cluster, "switchover", "--to", target.name)
    assert out.returncode == 0, out.stdout + out.stderr
    assert cluster.leader() is target
    moved = wait_for(lambda: (h := cluster.etcd_leader()) is not None and h is not target and h,
                     f"etcd's leadership leaving {target.name}", timeout=60)
    log = target.exec("cat", "/var/log/pgstead/patroni.log").stdout
    assert f"etcd's leadership handed from this host to {moved.address}:2379" in log, log[-3000:]
    wait_for(lambda: healthy(cluster), "the old leader back as a replica")


def test_backups_and_restore_go_to_the_leader_by_themselves(cluster):
    # The leader must not be the inventory's first host, or "went to the leader" could not be
    # told from "went to the first host". The switchover before may have picked it.
    first = cluster.fleet.hosts[0]
    wait_for(lambda: healthy(cluster), "a healthy cluster")
    if cluster.leader().name == first.name:
        other = cluster.fleet.hosts[1].name
        moved = pgstead(cluster, "switchover", "--to", other)
        assert moved.returncode == 0, moved.stdout + moved.stderr
        wait_for(lambda: cluster.leader().name == other, f"{other} leading")
    leader = wait_for(cluster.leader, "a leader")
    assert leader.name != first.name
    out = pgstead(cluster, "backups")
    # This file enables no backups: the leader's answer says so, and no other host is asked.
    assert [line for line in out.stdout.splitlines() if line.startswith("host ")] == [
        f"host {leader.name}"], out.stdout + out.stderr
    out = pgstead(cluster, "restore", "--database", "app")
    assert f"restore on {leader.name} failed" in out.stderr, out.stdout + out.stderr


def test_switchover_to_a_stopped_member_is_refused_with_the_reason(cluster):
    leader = cluster.leader()
    stopped = next(h for h in cluster.fleet.hosts if h is not leader)
    stopped.exec(SUPERVISE, "stop", "patroni", "120")
    try:
        out = pgstead(cluster, "switchover", "--to", stopped.name)
        assert out.returncode != 0
        assert stopped.name in out.stderr and "cannot switch over" in out.stderr, out.stderr
        assert cluster.leader() is leader
    finally:
        stopped.exec(SUPERVISE, "boot")
    wait_for(lambda: healthy(cluster), f"{stopped.name} back", timeout=180)


def test_cluster_after_a_kill_exits_non_zero_naming_the_down_member(cluster):
    leader = cluster.leader()
    killed = next(h for h in cluster.fleet.hosts if h is not leader)
    docker("kill", killed.container)
    code, report, stderr = members(cluster)
    assert code == 1
    rows = {r["host"]: r for r in report["members"]}
    assert rows[killed.name]["state"].startswith("down"), rows[killed.name]
    assert any(p.startswith(f"{killed.name} is down") for p in report["problems"])
    text = pgstead(cluster, "cluster")
    assert text.returncode == 1 and f"problem: {killed.name} is down" in text.stderr


def test_cluster_after_the_rejoin_is_healthy_and_the_next_apply_changes_nothing(cluster):
    killed = next(h for h in cluster.fleet.hosts
                  if docker("inspect", "-f", "{{.State.Running}}", h.container)
                  .stdout.strip() == "false")
    cluster.fleet.start_again(killed)
    started = time.monotonic()
    report = wait_for(lambda: healthy(cluster), f"{killed.name} rejoining", timeout=240)
    assert {r["host"] for r in report["members"] if r["role"] == "replica"} >= {killed.name}
    print(f"\nha ops: {killed.name} healthy again {time.monotonic() - started:.0f} s after "
          "its start", file=sys.stderr)
    again = cluster.run()
    assert_ok(again, "apply after the rejoin")
    assert changes(again) == set()
