"""Real PostgreSQL clusters for tests: their own names and ports, dropped afterwards."""

from __future__ import annotations

import subprocess


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
