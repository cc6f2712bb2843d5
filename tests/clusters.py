"""Real PostgreSQL clusters for tests: their own names and ports, dropped afterwards."""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


def drop_cluster(version: int, name: str) -> None:
    subprocess.run(["pg_dropcluster", "--stop", str(version), name],
                   capture_output=True, check=False)


def sql(port: int, query: str, dbname: str = "postgres", version: int = 15) -> str:
    """Run a query as the postgres superuser over the local socket (peer), as the deploy does."""
    proc = subprocess.run(
        ["runuser", "-u", "postgres", "--", f"/usr/lib/postgresql/{version}/bin/psql",
         "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-p", str(port), "-d", dbname,
         "-c", query],
        capture_output=True, text=True, check=True,
    )
    return proc.stdout.strip()


def show(port: int, name: str) -> str:
    return sql(port, f"SHOW {name}")


def postmaster_start(port: int) -> str:
    return sql(port, "SELECT pg_postmaster_start_time()")


def worker_ports(first: int = 5700, last: int = 5990) -> range:
    """This pytest process's share of the test port range (scripts/test runs two side by side,
    numbered by PYTEST_WORKER_SLOT), so their clusters never race for a port."""
    index = int(os.environ.get("PYTEST_WORKER_SLOT", "0"))
    count = 2
    step = (last - first) // count
    return range(first + index * step, first + (index + 1) * step)


# Ports this process has claimed: the open, locked files keep other test processes (a
# second suite, a developer's run beside CI) off them until this process exits.
_CLAIMS: dict[int, object] = {}
_CLAIM_DIR = "/tmp/pgstead-test-ports"


def _claim(port: int) -> bool:
    if port in _CLAIMS:
        return True  # ours already; the caller checked that no cluster holds it now
    os.makedirs(_CLAIM_DIR, exist_ok=True)
    handle = open(f"{_CLAIM_DIR}/{port}.lock", "w")  # noqa: SIM115 (held until exit)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return False
    _CLAIMS[port] = handle
    return True


def free_port(candidates: Iterable[int] | None = None) -> int:
    """A port no cluster claims, nothing listens on, and no other test process has picked
    (the pick and the cluster's creation are apart in time; a file lock covers the gap)."""
    candidates = worker_ports() if candidates is None else candidates
    listed = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True)
    claimed = {int(fields[2]) for fields in map(str.split, listed.stdout.splitlines())
               if len(fields) > 2 and fields[2].isdigit()}
    for port in candidates:
        if port in claimed:
            continue
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                continue
        if _claim(port):
            return port
    raise RuntimeError("no free port for a test cluster")


@contextmanager
def fixed_port(port: int) -> Iterator[int]:
    """A port (and the cluster named with it) that a module uses by number, held against
    every other test process for as long as the module runs: a second suite on the same
    machine waits here instead of dropping or reconfiguring the first one's cluster."""
    os.makedirs(_CLAIM_DIR, exist_ok=True)
    with open(f"{_CLAIM_DIR}/fixed-{port}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield port
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
