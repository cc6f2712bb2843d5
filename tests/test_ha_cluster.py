"""Three truly fresh hosts become one Patroni + etcd cluster in one pyinfra run; it fails over
by itself with nothing acknowledged lost, and the killed host comes back as a replica.

One cluster for the module (the first apply installs from Debian's mirror on three fresh
containers): the tests run in file order and read what the earlier ones left.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator

import psycopg
import pytest

from tests.ha_clients import Writer
from tests.ha_cluster import (
    FRESH_IMAGE,
    Cluster,
    assert_converged,
    assert_ok,
    changes,
    ha_cluster,
    wait_for,
)
from tests.hosts import docker

pytestmark = [pytest.mark.docker, pytest.mark.slow]

NAMES = ["db1", "db2", "db3"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp("ha")
    import os
    image = os.environ.get("PGSTEAD_HA_TEST_IMAGE") or FRESH_IMAGE
    with ha_cluster(directory, NAMES, image=image) as c:
        c.first_apply(f"ha, {len(NAMES)} hosts ({image})")
        yield c


def replication(c: Cluster, leader) -> list[tuple[str, str, bool]]:
    rows = c.sql(leader, "SELECT r.application_name, r.state, s.ssl FROM pg_stat_replication r "
                         "JOIN pg_stat_ssl s USING (pid) ORDER BY 1")
    return [tuple(line.split("|")) for line in rows.splitlines() if line]


def test_three_fresh_hosts_become_one_cluster_with_two_streaming_replicas_over_tls(cluster):
    leader = cluster.leader()
    assert leader is not None
    others = sorted(h.name for h in cluster.fleet.hosts if h is not leader)
    rows = wait_for(lambda: (r := replication(cluster, leader)) and len(r) == 2
                    and all(s == "streaming" for _, s, _ in r) and r,
                    "two streaming replicas")
    assert [name for name, _, _ in rows] == others
    assert all(ssl == "t" for _, _, ssl in rows), rows
    for h in cluster.fleet.hosts:
        assert cluster.sql(h, "SELECT pg_is_in_recovery()") == ("f" if h is leader else "t")
        # Patroni owns the server: Debian's tools see no cluster to start or stop.
        assert h.exec("pg_lsclusters", "--no-header").stdout.strip() == ""
        mode = h.exec("stat", "-c", "%U %a", "/etc/patroni/pgstead.yml").stdout.split()
        assert mode == ["postgres", "600"]
        # The package started its throw-away etcd member on install: it is gone.
        assert h.exec("test", "-e", "/var/lib/etcd/default", check=False).returncode == 1
    assert cluster.sql(leader, "SHOW data_checksums") == "on"


def test_etcd_has_three_healthy_members_over_tls(cluster):
    h = cluster.fleet.hosts[0]
    endpoints = ",".join(f"https://{x.address}:2379" for x in cluster.fleet.hosts)
    tls = ["--cacert=/etc/pgstead/etcd/ca.crt", "--cert=/etc/pgstead/etcd/member.crt",
           "--key=/etc/pgstead/etcd/member.key"]
    health = h.exec("etcdctl", f"--endpoints={endpoints}", *tls, "endpoint", "health",
                    check=False)
    # etcdctl prints health on stderr.
    assert health.returncode == 0, health.stderr
    assert (health.stdout + health.stderr).count("is healthy") == 3
    members = h.exec("etcdctl", f"--endpoints={endpoints}", *tls, "member", "list").stdout
    assert sorted(line.split(", ")[2] for line in members.splitlines()) == NAMES
    assert all("https://" in line and "http://" not in line for line in members.splitlines())
    # Without a client certificate from the CA, etcd refuses.
    anonymous = h.exec("etcdctl", f"--endpoints=https://{h.address}:2379",
                       "--cacert=/etc/pgstead/etcd/ca.crt", "--dial-timeout=3s",
                       "--command-timeout=3s", "get", "x", check=False)
    assert anonymous.returncode != 0


def test_access_was_written_on_the_leader_and_replicated(cluster):
    with cluster.connect() as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "app_owner"
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False


def test_second_apply_changes_nothing_and_a_dry_run_predicts_nothing(cluster):
    assert_converged(cluster)


def test_failover_loses_no_acknowledged_commit(cluster):
    with cluster.connect() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS ha_rows (n int PRIMARY KEY)")
    old = cluster.leader()
    writer = Writer(cluster, cluster.multi_host_url())
    writer.start()
    wait_for(lambda: len(writer.acked) > 50, "the writer's first commits")
    wait_for(cluster.synchronous_standby, "a synchronous standby")
    killed_at = time.monotonic()
    docker("kill", old.container)
    new = cluster.new_leader(old, timeout=120)
    before = len(writer.acked)
    wait_for(lambda: len(writer.acked) > before + 50, "the writer carrying on", timeout=120)
    writer.stop.set()
    writer.join(30)
    with psycopg.connect(cluster.multi_host_url(), password=cluster.password()) as conn:
        stored = {n for (n,) in conn.execute("SELECT n FROM ha_rows")}
    lost = [n for n in writer.acked if n not in stored]
    window = (max(writer.refused) - killed_at) if writer.refused else 0.0
    print(f"\nha: failover {old.name} -> {new.name}: writes refused for {window:.1f} s, "
          f"{len(writer.acked)} commits acknowledged, {len(lost)} lost", file=sys.stderr)
    assert lost == []


def test_the_killed_host_comes_back_as_a_replica_and_the_next_apply_changes_nothing(cluster):
    killed = next(h for h in cluster.fleet.hosts
                  if docker("inspect", "-f", "{{.State.Running}}", h.container)
                  .stdout.strip() == "false")
    cluster.fleet.start_again(killed)
    leader = cluster.leader()
    wait_for(lambda: killed.name in [n for n, s, _ in replication(cluster, leader)
                                     if s == "streaming"],
             f"{killed.name} streaming again", timeout=240)
    assert cluster.sql(killed, "SELECT pg_is_in_recovery()") == "t"
    again = cluster.run()
    assert_ok(again, "apply after the rejoin")
    assert changes(again) == set()
