"""A Patroni + etcd cluster on three hosts booted by systemd, as Debian VMs are: two from the HA
image's systemd variant, whose packages' own units (etcd's throw-away member, HAProxy) start at
boot, and one fresh (db3, the plain systemd image), where the first apply installs PostgreSQL,
etcd, Patroni and HAProxy from Debian's mirror and their units start on install.

etcd, Patroni and HAProxy run as pgstead's own units (pgstead-<name>.service), the packages'
units neither run nor start at boot, a write through HAProxy's leader port reaches the leader,
and a member whose container restarts (a reboot: systemd stops Patroni, which stops
PostgreSQL) comes back and rejoins by itself, with no apply. One cluster for the module; the
tests run in file order and read what the earlier ones left.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.ha_clients import endpoint_url, stats
from tests.ha_cluster import (
    DATABASE,
    Cluster,
    assert_converged,
    ha_cluster,
    wait_for,
)
from tests.hosts import SYSTEMD_HOST_IMAGE
from tests.systemd_units import active_and_enabled, main_pid, supervise_leftovers, unit, unit_of

pytestmark = [pytest.mark.docker, pytest.mark.slow]

NAMES = ["db1", "db2", "db3"]
FRESH = "db3"  # no PostgreSQL nor HA packages before the first apply
LEADER_PORT = 5000
UNITS = ("pgstead-etcd.service", "pgstead-patroni.service", "pgstead-haproxy.service")
PACKAGE_UNITS = ("etcd.service", "patroni.service", "haproxy.service")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp("systemd-ha")
    with ha_cluster(directory, [n for n in NAMES if n != FRESH], name="hasd",
                    systemd=True) as c:
        c.fleet.add(FRESH, image=SYSTEMD_HOST_IMAGE)
        c.write_inventory()
        c.first_apply(f"systemd ha, {len(NAMES)} systemd hosts, {FRESH} fresh")
        yield c


def streaming(c: Cluster) -> list[str]:
    leader = c.leader()
    if leader is None:
        return []
    rows = c.sql(leader, "SELECT application_name FROM pg_stat_replication "
                         "WHERE state = 'streaming' ORDER BY 1")
    return rows.split()


def test_second_apply_changes_nothing_and_a_dry_run_predicts_nothing(cluster):
    wait_for(lambda: len(streaming(cluster)) == 2, "two streaming replicas")
    assert_converged(cluster)


def test_etcd_patroni_and_haproxy_run_as_enabled_units_of_pgsteads_own(cluster):
    for h in cluster.fleet.hosts:
        for name in UNITS:
            assert active_and_enabled(h, name), (h.name, name, unit(h, name))
        # PostgreSQL is Patroni's child, in Patroni's unit: systemd stops it through Patroni.
        postmaster = int(h.exec("pgrep", "-o", "-u", "postgres", "-x", "postgres").stdout)
        assert unit_of(h, postmaster) == "pgstead-patroni.service"
        for name in PACKAGE_UNITS:
            state = unit(h, name)
            assert state["ActiveState"] in ("inactive", "failed"), (h.name, name, state)
            assert state["UnitFileState"] != "enabled", (h.name, name, state)
        # The package's etcd member ran at boot; it is gone, and its data with it.
        assert h.exec("test", "-e", "/var/lib/etcd/default", check=False).returncode == 1
        assert h.exec("pg_lsclusters", "--no-header").stdout.strip() == ""
        assert supervise_leftovers(h) == ""


def test_a_write_through_the_leader_port_reaches_the_leader(cluster):
    leader = wait_for(cluster.leader, "a leader")
    for balancer in cluster.fleet.hosts:
        wait_for(lambda b=balancer: stats(b).get(("leader", leader.name)) == "UP",
                 f"{balancer.name}'s HAProxy marking {leader.name} the leader")
    balancer = next(h for h in cluster.fleet.hosts if h is not leader)
    with psycopg.connect(endpoint_url(cluster, balancer, LEADER_PORT),
                         password=cluster.password(), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS sd_rows (n int PRIMARY KEY)")
        conn.execute("INSERT INTO sd_rows VALUES (1)")
        assert conn.execute("SELECT host(inet_server_addr()), pg_is_in_recovery()"
                            ).fetchone() == (leader.address, False)


def test_a_restarted_member_rejoins_by_itself(cluster):
    leader = wait_for(cluster.leader, "a leader")
    patroni_before = {h.name: main_pid(h, "pgstead-patroni.service")
                      for h in cluster.fleet.hosts}
    # The leader: its shutdown hands the leader lock over, its boot brings it back a replica.
    cluster.fleet.restart(leader, seconds=240)
    for name in UNITS:
        wait_for(lambda name=name: unit(leader, name)["ActiveState"] == "active",
                 f"{name} active on {leader.name} after the restart", timeout=240)
    wait_for(lambda: leader.name in streaming(cluster), f"{leader.name} streaming again",
             timeout=300)
    new = cluster.leader()
    assert new is not None and new is not leader
    assert cluster.sql(leader, "SELECT pg_is_in_recovery()") == "t"
    # The row written through the leader port before, replayed here from the new leader.
    rows = leader.exec("runuser", "-u", "postgres", "--", "psql", "-X", "-A", "-t", "-d",
                       DATABASE, "-c", "SELECT count(*) FROM sd_rows").stdout.strip()
    assert rows == "1"
    # The others' Patroni kept running through it.
    for h in cluster.fleet.hosts:
        if h is not leader:
            assert main_pid(h, "pgstead-patroni.service") == patroni_before[h.name]
    for name in PACKAGE_UNITS:
        assert unit(leader, name)["ActiveState"] in ("inactive", "failed"), name
    assert leader.exec("test", "-e", "/var/lib/etcd/default", check=False).returncode == 1
    assert_converged(cluster, "apply after the rejoin")
