"""Clients of an HA cluster's endpoints for the HA test modules: connections through HAProxy
on a balancer, a writer that records acknowledged commits, and HAProxy's stats."""

from __future__ import annotations

import csv
import io
import threading
import time

import psycopg

from tests.ha_cluster import DATABASE, WRITER, Cluster
from tests.hosts import FleetHost

# A killed host drops packets: give up on it in seconds, not minutes.
_FAST = ("connect_timeout=3 tcp_user_timeout=3000 keepalives=1 keepalives_idle=1 "
         "keepalives_interval=1 keepalives_count=2")


def endpoint_url(c: Cluster, balancer: FleetHost, port: int) -> str:
    # verify-full: every member's certificate carries the balancers' addresses.
    return (f"host={balancer.address} port={port} dbname={DATABASE} user={WRITER} "
            f"sslmode=verify-full sslrootcert={c.ca} {_FAST}")


def served_by(c: Cluster, balancer: FleetHost, port: int) -> tuple[bool, str]:
    """(pg_is_in_recovery(), the server's address) of one new connection through `port`."""
    with psycopg.connect(endpoint_url(c, balancer, port), password=c.password()) as conn:
        row = conn.execute("SELECT pg_is_in_recovery(), host(inet_server_addr())").fetchone()
        return bool(row[0]), str(row[1])


def stats(balancer: FleetHost, port: int = 7000) -> dict[tuple[str, str], str]:
    """(proxy, server) -> status from HAProxy's CSV stats, read on the balancer itself."""
    out = balancer.exec("python3", "-c", "import urllib.request,sys; sys.stdout.write("
                        f"urllib.request.urlopen('http://127.0.0.1:{port}/;csv').read()"
                        ".decode())").stdout
    rows = csv.DictReader(io.StringIO(out.lstrip("# ")))
    return {(r["pxname"], r["svname"]): r["status"] for r in rows}


class Writer(threading.Thread):
    """Inserts numbered rows through one conninfo and records what the server acknowledged.

    Any error is retried on a new connection: "cannot execute INSERT in a read-only
    transaction" right after a promotion too (Patroni answers /primary a few milliseconds
    before the server accepts writes)."""

    def __init__(self, c: Cluster, url: str, table: str = "ha_rows") -> None:
        super().__init__(daemon=True)
        self.c, self.url, self.table = c, url, table
        self.acked: list[int] = []
        self.acked_at: list[float] = []  # monotonic times of acknowledged commits
        self.refused: list[float] = []  # monotonic times of failed attempts
        self.reasons: list[str] = []  # what each failed attempt was told, in the same order
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        conn = None
        password = self.c.password()
        while not self.stop.is_set():
            n += 1
            try:
                if conn is None:
                    conn = psycopg.connect(self.url, password=password, autocommit=True)
                conn.execute(f"INSERT INTO {self.table} (n) VALUES (%s)", (n,))
                self.acked.append(n)
                self.acked_at.append(time.monotonic())
            except psycopg.Error as e:
                self.refused.append(time.monotonic())
                self.reasons.append(str(e).strip()[:160])
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.1)
            else:
                time.sleep(0.02)
        if conn is not None:
            conn.close()

    def window(self, since: float) -> float:
        """Seconds from `since` to the last refused write after it."""
        after = [t for t in self.refused if t >= since]
        return (max(after) - since) if after else 0.0


def patroni_get(h: FleetHost, path: str) -> tuple[int, str]:
    """(status, body) of GET `path` on the member's own REST API, verified with its CA."""
    script = ("import ssl, sys, urllib.request, urllib.error\n"
              "ctx = ssl.create_default_context(cafile='/etc/patroni/pgstead/ca.crt')\n"
              "try:\n"
              f"    r = urllib.request.urlopen('https://{h.address}:8008{path}', context=ctx,"
              " timeout=5)\n"
              "    print(r.status); print(r.read().decode())\n"
              "except urllib.error.HTTPError as e:\n"
              "    print(e.code); print(e.read().decode())\n")
    out = h.exec("python3", "-c", script, check=False).stdout.splitlines()
    return (int(out[0]), "\n".join(out[1:])) if out else (0, "")
