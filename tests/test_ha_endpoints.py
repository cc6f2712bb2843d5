"""HAProxy's endpoints on a Patroni cluster: the leader port follows the leader through a
`docker kill` with no configuration change and nothing acknowledged lost; the read port serves
replicas only, leaves out a replica whose replay falls behind max_lag, and falls back to the
leader when no replica is up. One cluster for the module, from the HA image (packages
preinstalled); the tests run in file order and read what the earlier ones left.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator

import psycopg
import pytest

from tests.ha_clients import Writer, endpoint_url, patroni_get, served_by, stats
from tests.ha_cluster import Cluster, assert_converged, assert_ok, changes, ha_cluster, wait_for
from tests.hosts import docker

pytestmark = [pytest.mark.docker, pytest.mark.slow]

NAMES = ["db1", "db2", "db3"]
LEADER_PORT, READ_PORT = 5000, 5001
SUPERVISE = "/usr/local/sbin/pgstead-supervise"
# The replica's startup process replays WAL ([s]: never matches pkill's own argv).
STARTUP = "postgres: .*[s]tartup recovering"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp("ha-endpoints")
    with ha_cluster(directory, NAMES, name="haep",
                    endpoints={"leader_port": LEADER_PORT, "read_port": READ_PORT,
                               "max_lag": "1MB"}) as c:
        c.first_apply("ha endpoints")
        yield c


def replicas(c: Cluster):
    leader = c.leader()
    return leader, [h for h in c.fleet.hosts if h is not leader]


def through(c: Cluster, balancer, port: int, times: int = 12) -> list[tuple[bool, str]]:
    return [served_by(c, balancer, port) for _ in range(times)]


def test_every_member_runs_haproxy_with_stats_on_localhost_only(cluster):
    leader, others = replicas(cluster)
    assert leader is not None
    for h in cluster.fleet.hosts:
        assert h.exec("haproxy", "-c", "-q", "-f", "/etc/pgstead/haproxy/haproxy.cfg",
                      check=False).returncode == 0
        status = wait_for(lambda h=h: (s := stats(h)) and s.get(("leader", leader.name)) == "UP"
                          and s, f"{h.name}'s HAProxy marking {leader.name} the leader")
        assert all(status[("leader", o.name)] == "DOWN" for o in others), status
    # The stats page answers nobody from outside.
    probe = others[0].exec("python3", "-c", "import socket; socket.create_connection(("
                           f"'{leader.address}', 7000), 3)", check=False)
    assert probe.returncode != 0


def test_second_apply_changes_nothing_and_a_dry_run_predicts_nothing(cluster):
    assert_converged(cluster)


def test_leader_port_reaches_the_leader_from_every_balancer(cluster):
    leader, _ = replicas(cluster)
    for h in cluster.fleet.hosts:
        assert served_by(cluster, h, LEADER_PORT) == (False, leader.address)


def test_read_port_serves_only_replicas(cluster):
    _, others = replicas(cluster)
    balancer = others[0]
    wait_for(lambda: {a for _, a in through(cluster, balancer, READ_PORT)}
             == {o.address for o in others}, "both replicas served by the read port")
    assert all(recovery for recovery, _ in through(cluster, balancer, READ_PORT))


def test_health_checks_cost_a_replica_no_refused_connection(cluster):
    """Each check makes a replica's Patroni read its timeline over a replication connection to
    localhost: pg_hba lets it in, so no check leaves a refusal (and a traceback) behind."""
    _, others = replicas(cluster)
    for h in others:
        seen = h.exec("grep", "-c", "no pg_hba.conf entry", "/var/log/pgstead/patroni.log",
                      check=False).stdout.strip()
        assert seen == "0", f"{h.name}: {seen} refused connections in Patroni's log"


def test_read_port_leaves_out_a_replica_whose_replay_falls_behind_max_lag(cluster):
    leader, others = replicas(cluster)
    lagging, other = others
    # Patroni 3.0.2 resumes a replay paused by pg_wal_replay_pause() on its next loop
    # (PostgreSQL 14+, ha.py handle_parameter_change), so replay is held by freezing the
    # replica's startup process: it keeps receiving WAL and stops replaying it.
    lagging.exec("pkill", "-STOP", "-f", STARTUP)
    try:
        # About 20 MB of WAL, far beyond max_lag (1MB); the leader publishes its position to
        # etcd on each loop, and Patroni compares the replica's replayed position with it.
        cluster.sql(leader, "CREATE TABLE IF NOT EXISTS lag_fill (x text)")
        cluster.sql(leader, "INSERT INTO lag_fill SELECT repeat('x', 1000) "
                            "FROM generate_series(1, 20000)")
        try:
            wait_for(lambda: stats(other).get(("read", lagging.name)) == "DOWN",
                     f"{lagging.name} leaving the read port", timeout=60)
        except AssertionError as error:
            answer = patroni_get(lagging, f"/replica?lag={1024 * 1024}")
            raise AssertionError(f"{error}; {lagging.name}'s /replica?lag answers {answer}; "
                                 f"leader: {patroni_get(leader, '/cluster')}") from None
        assert {a for _, a in through(cluster, other, READ_PORT)} == {other.address}
        assert stats(other)[("read", other.name)] == "UP"
    finally:
        lagging.exec("pkill", "-CONT", "-f", STARTUP)
    wait_for(lambda: stats(other).get(("read", lagging.name)) == "UP",
             f"{lagging.name} back in the read port once replay caught up", timeout=60)


def test_read_port_falls_back_to_the_leader_when_every_replica_is_down(cluster):
    leader, others = replicas(cluster)
    for h in others:
        h.exec(SUPERVISE, "stop", "patroni", "120")
    try:
        wait_for(lambda: all(stats(leader).get(("read", h.name)) == "DOWN" for h in others),
                 "both replicas out of the read port", timeout=60)
        assert set(through(cluster, leader, READ_PORT, 4)) == {(False, leader.address)}
        assert set(through(cluster, others[0], READ_PORT, 4)) == {(False, leader.address)}
    finally:
        for h in others:
            h.exec(SUPERVISE, "boot")
    wait_for(lambda: all(stats(leader).get(("read", h.name)) == "UP" for h in others),
             "both replicas back in the read port", timeout=180)
    assert all(recovery for recovery, _ in through(cluster, leader, READ_PORT, 4))


def test_a_changed_max_lag_reloads_haproxy_without_restarting_it(cluster):
    data = cluster.data
    data["ha"]["endpoints"]["max_lag"] = "2MB"
    cluster.write(data)
    h = cluster.fleet.hosts[0]
    master = h.exec("cat", "/run/pgstead/haproxy.child").stdout.strip()
    dry = cluster.run("--dry")
    assert_ok(dry, "dry run of a changed max_lag")
    planned = changes(dry)
    applied = cluster.run()
    assert_ok(applied, "apply of a changed max_lag")
    assert changes(applied) == planned
    assert {host for _, host in planned} == set(NAMES)
    config = h.exec("cat", "/etc/pgstead/haproxy/haproxy.cfg").stdout
    assert f"/replica?lag={2 * 1024 * 1024}" in config
    assert h.exec("cat", "/run/pgstead/haproxy.child").stdout.strip() == master
    again = cluster.run()
    assert_ok(again, "apply after the reload")
    assert changes(again) == set()


def test_a_writer_on_the_leader_port_follows_a_killed_leader_and_loses_nothing(cluster):
    leader, others = replicas(cluster)
    balancer = others[0]  # the endpoint must outlive the kill
    with psycopg.connect(endpoint_url(cluster, balancer, LEADER_PORT),
                         password=cluster.password(), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS ha_rows (n int PRIMARY KEY)")
        conn.execute("TRUNCATE ha_rows")
    writer = Writer(cluster, endpoint_url(cluster, balancer, LEADER_PORT))
    writer.start()
    wait_for(lambda: len(writer.acked) > 50, "the writer's first commits")
    wait_for(cluster.synchronous_standby, "a synchronous standby")
    killed_at = time.monotonic()
    docker("kill", leader.container)
    new = cluster.new_leader(leader, timeout=120)
    before = len(writer.acked)
    wait_for(lambda: len(writer.acked) > before + 50, "the writer carrying on", timeout=120)
    writer.stop.set()
    writer.join(30)
    with psycopg.connect(endpoint_url(cluster, balancer, LEADER_PORT),
                         password=cluster.password()) as conn:
        stored = {n for (n,) in conn.execute("SELECT n FROM ha_rows")}
        assert conn.execute("SELECT host(inet_server_addr())").fetchone()[0] == new.address
    lost = [n for n in writer.acked if n not in stored]
    print(f"\nha endpoints: kill {leader.name} -> {new.name} through {balancer.name}:"
          f"{LEADER_PORT}: writes refused for {writer.window(killed_at):.1f} s, "
          f"{len(writer.acked)} acknowledged, {len(lost)} lost", file=sys.stderr)
    assert lost == []


def test_the_killed_host_rejoins_with_its_haproxy_and_the_next_apply_changes_nothing(cluster):
    killed = next(h for h in cluster.fleet.hosts
                  if docker("inspect", "-f", "{{.State.Running}}", h.container)
                  .stdout.strip() == "false")
    cluster.fleet.start_again(killed)
    leader = cluster.leader()
    wait_for(lambda: stats(killed).get(("leader", leader.name)) == "UP",
             f"{killed.name}'s HAProxy back and following {leader.name}", timeout=240)
    wait_for(lambda: cluster.sql(killed, "SELECT pg_is_in_recovery()") == "t",
             f"{killed.name} a replica again", timeout=240)
    # Patroni's own view too (it says "running" once the rejoin, pg_rewind included, is done):
    # before that the apply rightly waits for it, which is a change.
    wait_for(lambda: (s := cluster.patroni(killed)) and s["member"].get("state") == "running"
             and cluster.sql(cluster.leader(), "SELECT count(*) FROM pg_stat_replication "
                             "WHERE state = 'streaming'") == "2",
             f"{killed.name} running and streaming under Patroni", timeout=240)
    again = cluster.run()
    assert_ok(again, "apply after the rejoin")
    assert changes(again) == set()
