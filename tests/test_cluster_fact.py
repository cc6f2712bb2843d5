"""The clusters fact against this machine's real postgresql-common, with an unreadable cluster."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from pgstead.facts.cluster import PgClusters
from tests.clusters import free_port

pytestmark = pytest.mark.skipif(shutil.which("pg_lsclusters") is None,
                                reason="needs Debian's postgresql-common")


def listed() -> list:
    fact = PgClusters()
    out = subprocess.run(["sh", "-c", fact.command()], capture_output=True, text=True,
                         check=True).stdout
    return fact.process(out.splitlines())


def test_an_unreadable_cluster_hides_no_other_cluster():
    suffix = uuid.uuid4().hex[:8]
    good, bad = f"fact_t_{suffix}", f"unreadable_{suffix}"
    port = free_port()
    subprocess.run(["pg_createcluster", "15", good, "--port", str(port)], check=True,
                   capture_output=True)
    conf_dir = Path("/etc/postgresql/15") / bad
    try:
        conf_dir.mkdir()
        # A configuration without data_directory: plain pg_lsclusters fails on it.
        (conf_dir / "postgresql.conf").write_text(f"port = {port + 1}\n")
        assert subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True
                              ).returncode != 0
        clusters = {(c.version, c.name): c for c in listed()}
    finally:
        shutil.rmtree(conf_dir, ignore_errors=True)
        subprocess.run(["pg_dropcluster", "15", good], check=True, capture_output=True)
    assert (clusters[15, good].port, clusters[15, good].running) == (port, False)
    assert clusters[15, good].readable
    assert not clusters[15, bad].readable


def test_process_reads_both_kinds_of_line():
    lines = [
        "15 main 5432 online postgres /var/lib/postgresql/15/main /var/log/x.log",
        "16 broken unreadable",
        "garbage",
        "15 half <unknown> down <unknown> /var/lib/postgresql/15/half /var/log/y.log",
    ]
    main, broken, half = PgClusters().process(lines)
    assert (half.name, half.readable) == ("half", False)
    assert (main.version, main.name, main.port, main.running, main.readable) == (
        15, "main", 5432, True, True)
    assert (broken.version, broken.name, broken.readable) == (16, "broken", False)
