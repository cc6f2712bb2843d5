"""pgbouncer with an HA cluster, for real: every member runs pgbouncer over its local socket,
HAProxy's leader and read ports reach the members' pgbouncer (health still from Patroni), and
a direct port reaches the leader's PostgreSQL for migrations. `pgstead env`'s DATABASE_URL
logs in through the leader endpoint and the pooler with SCRAM over verify-full, and keeps
working through the same URL after a switchover and after the leader is killed, losing no
acknowledged commit. One cluster for the module, from the HA image; tests run in order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import psycopg
import pytest

from tests.ha_clients import Writer, stats
from tests.ha_cluster import Cluster, assert_converged, assert_ok, ha_cluster, wait_for
from tests.hosts import docker
from tests.pgstead_run import ROOT

pytestmark = [pytest.mark.docker, pytest.mark.slow]

NAMES = ["db1", "db2", "db3"]
POOLER_PORT = 6432


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp("ha-pooler")
    with ha_cluster(directory, NAMES, name="hapool") as c:
        data = c.data
        data["pooler"] = {"enabled": True, "port": POOLER_PORT}
        c.write(data)
        c.first = c.run()
        assert_ok(c.first, "first apply")
        yield c


def pgstead(c: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pgstead.cli", *args], capture_output=True, text=True,
        timeout=300, check=False, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PGSTEAD_STATE_DIR": str(c.state_dir)})


def env_urls(c: Cluster, endpoint: str) -> dict[str, str]:
    out = pgstead(c, "env", str(c.env_path), "--user", "app_owner", "--inventory",
                  str(c.inventory), "--endpoint", endpoint, "--format", "json",
                  "--show-secrets")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def where(url: str) -> tuple[bool, str | None]:
    """(pg_is_in_recovery(), the server's address: None over a Unix socket, as pgbouncer
    reaches its member's server) of one new connection through `url`."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_is_in_recovery(), host(inet_server_addr())").fetchone()
        return bool(row[0]), row[1]


def test_the_second_apply_changes_nothing_and_a_dry_run_predicts_nothing(cluster):
    assert_converged(cluster)


def test_every_member_runs_pgbouncer_and_haproxy_forwards_to_it(cluster):
    leader = wait_for(cluster.leader, "a leader")
    for h in cluster.fleet.hosts:
        config = h.exec("cat", "/etc/pgstead/haproxy/haproxy.cfg").stdout
        assert f"server {h.name} {h.address}:{POOLER_PORT} check port 8008" in config
        assert "listen leader_direct" in config
        assert h.exec("pgrep", "-u", "postgres", "-x", "pgbouncer",
                      check=False).returncode == 0, f"no pgbouncer on {h.name}"
        wait_for(lambda h=h: stats(h).get(("leader", leader.name)) == "UP",
                 f"{h.name}'s HAProxy marking {leader.name} the leader")


def test_login_through_the_leader_endpoint_and_the_pooler_with_scram_verify_full(cluster):
    leader = cluster.leader()
    balancer = next(h for h in cluster.fleet.hosts if h is not leader)
    urls = env_urls(cluster, balancer.address)
    assert urls["DATABASE_URL"].startswith("postgresql://app_owner:")
    assert f"@{balancer.address}:5000/app?sslmode=verify-full" in urls["DATABASE_URL"]
    # Through HAProxy to the leader's pgbouncer, which reaches its server over the socket.
    assert where(urls["DATABASE_URL"]) == (False, None)
    # libpq refuses unless the pooler asks for SCRAM-SHA-256 (and verifies its certificate).
    with psycopg.connect(urls["DATABASE_URL"], require_auth="scram-sha-256") as conn:
        assert conn.info.pgconn.ssl_in_use
        assert conn.execute("SELECT current_user").fetchone()[0] == "app_owner"
    # The read port: a replica's pgbouncer.
    assert where(urls["DATABASE_URL_READONLY"]) == (True, None)
    # The direct port: the leader's PostgreSQL itself, over TCP.
    assert where(urls["DIRECT_DATABASE_URL"]) == (False, leader.address)
    with psycopg.connect(urls["DIRECT_DATABASE_URL"], autocommit=True) as conn:
        assert conn.execute("SELECT pg_try_advisory_lock(42)").fetchone()[0] is True
    wrong = urls["DATABASE_URL"].replace(cluster.password(), "not-the-password")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(wrong).close()


def test_the_superuser_never_gets_through_the_pooler(cluster):
    balancer = cluster.fleet.hosts[0]
    url = (f"host={balancer.address} port=5000 dbname=postgres user=postgres "
           f"sslmode=verify-full sslrootcert={cluster.ca} connect_timeout=5")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, password="anything").close()


def _write_through(c: Cluster, url: str, event) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS pool_rows (n int PRIMARY KEY)")
        conn.execute("TRUNCATE pool_rows")
    writer = Writer(c, url, table="pool_rows")
    writer.start()
    wait_for(lambda: len(writer.acked) > 30, "the writer's first commits")
    wait_for(c.synchronous_standby, "a synchronous standby")
    old = c.leader()
    event(old)
    c.new_leader(old, timeout=120)
    before = len(writer.acked)
    wait_for(lambda: len(writer.acked) > before + 30, "the writer carrying on", timeout=120)
    writer.stop.set()
    writer.join(30)
    with psycopg.connect(url) as conn:
        stored = {n for (n,) in conn.execute("SELECT n FROM pool_rows")}
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
    assert [n for n in writer.acked if n not in stored] == []


def test_after_a_switchover_the_app_reconnects_through_the_same_url(cluster):
    balancer = cluster.fleet.hosts[0]
    url = env_urls(cluster, balancer.address)["DATABASE_URL"]

    def switch(old) -> None:
        out = pgstead(cluster, "switchover", str(cluster.env_path), "--inventory",
                      str(cluster.inventory))
        assert out.returncode == 0, out.stdout + out.stderr

    _write_through(cluster, url, switch)


def test_after_the_leader_is_killed_the_app_reconnects_through_the_same_url(cluster):
    leader = cluster.leader()
    balancer = next(h for h in cluster.fleet.hosts if h is not leader)  # outlives the kill
    url = env_urls(cluster, balancer.address)["DATABASE_URL"]
    started = time.monotonic()
    _write_through(cluster, url, lambda old: docker("kill", old.container))
    print(f"\nha pooler: kill {leader.name}, writer through {balancer.name}:5000 and "
          f"pgbouncer carried on within {time.monotonic() - started:.0f} s", file=sys.stderr)
