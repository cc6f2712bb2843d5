"""Removing a member from a Patroni cluster, for real: four members (etcd on three), one
marked `state: absent` in the inventory. A removal that would leave etcd without an odd quorum
is refused before any host is touched; the absent non-etcd member is stopped for good and
forgotten by Patroni and etcd (its data left on disk), the others drop it from their HAProxy
backends, pg_hba and Patroni files, writes go on through the leader endpoint, `--dry` predicts
the apply and a second apply changes nothing. One cluster for the module; tests run in order.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator

import psycopg
import pytest

from tests.ha_clients import endpoint_url, stats
from tests.ha_cluster import Cluster, assert_converged, assert_ok, changes, ha_cluster, wait_for
from tests.pgstead_run import ROOT

pytestmark = [pytest.mark.docker, pytest.mark.slow]

NAMES = ["db1", "db2", "db3", "db4"]
ETCD = ["db1", "db2", "db3"]
LEADER_PORT = 5000
SUPERVISE = "/usr/local/sbin/pgstead-supervise"
DATA = "/var/lib/postgresql/15/hamem"
PATRONI_FILES = "/etc/patroni/pgstead"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp("ha-members")
    with ha_cluster(directory, NAMES, name="hamem", dcs={"hosts": ETCD}) as c:
        c.first = c.run()
        assert_ok(c.first, "first apply")
        wait_for(lambda: len(running(c)) == 4, "four members running under Patroni",
                 timeout=300)
        yield c


def per_host(found: set[tuple[str, str]]) -> dict[str, Counter]:
    """host -> how many changed operations of each kind (a name without its member part)."""
    out: dict[str, Counter] = {}
    for op, h in found:
        kind = re.sub(r" (of|member) db[0-9].*$", r" \1", op)
        out.setdefault(h, Counter())[kind] += 1
    return out


def mark_absent(c: Cluster, name: str | None) -> None:
    c.fleet.write_inventory(c.inventory, per_host={name: {"state": "absent"}} if name else None)


def running(c: Cluster) -> set[str]:
    leader = c.leader()
    state = c.patroni(leader) if leader else None
    members = (state or {}).get("cluster", {}).get("members", [])
    return {m["name"] for m in members if m.get("state") in ("running", "streaming")}


def etcd_members(c: Cluster) -> list[str]:
    out = c.fleet.host("db1").exec(
        "etcdctl", "--endpoints=https://127.0.0.1:2379", f"--cacert={PATRONI_FILES}/ca.crt",
        f"--cert={PATRONI_FILES}/member.crt", f"--key={PATRONI_FILES}/member.key",
        "member", "list", "-w", "json").stdout
    return sorted(m.get("name", "") for m in json.loads(out)["members"])


def member_keys(c: Cluster) -> list[str]:
    out = c.fleet.host("db1").exec(
        "etcdctl", "--endpoints=https://127.0.0.1:2379", f"--cacert={PATRONI_FILES}/ca.crt",
        f"--cert={PATRONI_FILES}/member.crt", f"--key={PATRONI_FILES}/member.key",
        "get", "--prefix", "--keys-only", "/pgstead/hamem/members/").stdout
    return sorted(line.rsplit("/", 1)[-1] for line in out.split() if line.strip())


def pgstead_cluster(c: Cluster) -> tuple[int, dict]:
    out = subprocess.run(
        [sys.executable, "-m", "pgstead.cli", "cluster", str(c.env_path), "--inventory",
         str(c.inventory), "--format", "json"], capture_output=True, text=True, timeout=300,
        check=False, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT),
                                    "PGSTEAD_STATE_DIR": str(c.state_dir)})
    return out.returncode, json.loads(out.stdout or "{}")


def write_through_endpoint(c: Cluster, balancer, value: int) -> str:
    with psycopg.connect(endpoint_url(c, balancer, LEADER_PORT), password=c.password(),
                         autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS member_rows (n int PRIMARY KEY)")
        conn.execute("INSERT INTO member_rows VALUES (%s)", (value,))
        return conn.execute("SELECT host(inet_server_addr())").fetchone()[0]


def test_removing_an_etcd_member_that_breaks_the_quorum_is_refused_untouched(cluster):
    mark_absent(cluster, "db3")
    try:
        refused = cluster.run()
        assert refused.returncode == 2, refused.stderr[-3000:]
        said = refused.stdout + refused.stderr
        assert "db3 is marked state: absent" in said and "nothing was changed" in said, said
        assert "Traceback" not in said
    finally:
        mark_absent(cluster, None)
    assert running(cluster) == set(NAMES)
    assert etcd_members(cluster) == ETCD


def test_a_dry_run_names_the_removal_and_the_apply_does_exactly_that(cluster):
    mark_absent(cluster, "db4")
    dry = cluster.run("--dry")
    assert_ok(dry, "dry run of the removal")
    planned = changes(dry)
    applied = cluster.run()
    assert_ok(applied, "apply of the removal")
    # pyinfra names an operation after the first host that planned it ("Patroni config of
    # db2" on every member): compare what changed on each host, not those names.
    assert per_host(changes(applied)) == per_host(planned)
    on_db4 = [op for op, h in planned if h == "db4"]
    assert sum("stopped for good" in op for op in on_db4) == 2, on_db4  # HAProxy, Patroni
    # The others rewrite their Patroni files and HAProxy configs without db4 (db4 ran no
    # etcd member and deleted its own Patroni key: etcd has nothing more to forget).
    for name in ("db1", "db2", "db3"):
        assert per_host(planned)[name]["Patroni | Patroni config of"] == 1, planned
        assert per_host(planned)[name]["Endpoints (HAProxy) | HAProxy config and the CA its "
                                       "checks trust"] == 1, planned


def test_the_removed_member_is_stopped_with_its_data_left(cluster):
    db4 = cluster.fleet.host("db4")
    for daemon in ("patroni", "etcd", "haproxy"):
        assert db4.exec(SUPERVISE, "status", daemon).stdout.strip() == "stopped", daemon
        assert db4.exec("test", "-e", f"/etc/pgstead/supervise/{daemon}",
                        check=False).returncode != 0, f"{daemon} would start at boot"
    assert db4.exec("pgrep", "-u", "postgres", "-x", "postgres", check=False).returncode != 0
    assert db4.exec("test", "-f", f"{DATA}/PG_VERSION", check=False).returncode == 0


def test_patroni_and_etcd_forget_it_and_the_others_drop_it(cluster):
    wait_for(lambda: running(cluster) == set(NAMES[:3]), "three members running")
    assert "db4" not in member_keys(cluster)
    assert etcd_members(cluster) == ETCD
    code, report = wait_for(lambda: (r := pgstead_cluster(cluster))[0] == 0 and r,
                            "pgstead cluster exiting 0")
    assert sorted(m["host"] for m in report["members"]) == NAMES[:3]
    db4 = cluster.fleet.host("db4")
    for h in cluster.fleet.hosts[:3]:
        haproxy = h.exec("cat", "/etc/pgstead/haproxy/haproxy.cfg").stdout
        assert " db4 " not in haproxy and db4.address not in haproxy
        assert db4.address not in h.exec("cat", "/etc/patroni/pgstead.yml").stdout
        assert not any(server == "db4" for _, server in stats(h))
    # No replication slot kept for it on the leader.
    leader = cluster.leader()
    wait_for(lambda: cluster.sql(leader, "SELECT count(*) FROM pg_replication_slots "
                                         "WHERE slot_name = 'db4'") == "0",
             "the leader dropping db4's slot", timeout=60)


def test_writes_go_on_through_the_leader_endpoint(cluster):
    leader = cluster.leader()
    for i, h in enumerate(cluster.fleet.hosts[:3]):
        assert write_through_endpoint(cluster, h, i) == leader.address


def test_a_second_apply_changes_nothing_and_a_dry_run_predicts_nothing(cluster):
    assert_converged(cluster)
