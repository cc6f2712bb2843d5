"""Native clusters managed with Debian's postgresql-common (works with or without systemd)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation

from pgstead.facts.cluster import PgClusters, ResolvedPaths


@operation()
def cluster(version: int, cluster: str, port: int, locale: str = "C.UTF-8",
            data_checksums: bool = True, running: bool = True,
            wal_directory: str | None = None):
    """
    Ensure a native cluster exists on its port, and (with `running`) runs.

    + version: PostgreSQL major
    + cluster: cluster name, as in ``pg_lsclusters``
    + port: the cluster's port; another cluster already on it is an error
    + locale: locale for ``initdb``
    + data_checksums: initialise with data checksums (cannot change on an existing cluster)
    + running: start the cluster when it is down; False leaves a new or stopped cluster down,
      for a first start with its settings already written (as the cluster role does)
    + wal_directory: a new cluster's WAL goes there (created 0700 postgres, initdb --waldir;
      pg_wal becomes a link to it); an existing cluster whose pg_wal resolves elsewhere is an
      error, since pgstead never moves WAL. None: no opinion

    **Example:**

    .. code:: python

        cluster.cluster(version=15, cluster="app", port=5433)
    """
    clusters = host.get_fact(PgClusters)
    current = next((c for c in clusters if (c.version, c.name) == (version, cluster)), None)
    if current is not None and not current.readable:
        raise OperationError(
            f"cluster {version}/{cluster} exists but pg_lsclusters cannot read it "
            f"(see `pg_lsclusters {version} {cluster}`): repair its configuration in "
            f"/etc/postgresql/{version}/{cluster}/ or remove it, then run again"
        )
    others = [c for c in clusters if c.port == port and c is not current]
    if others:
        other = others[0]
        raise OperationError(
            f"port {port} is already used by cluster {other.version}/{other.name}; "
            f"choose another postgres.port for {version}/{cluster}"
        )

    if current is None:
        create = [
            "pg_createcluster", str(version), QuoteString(cluster), "--port", str(port),
            "--locale", QuoteString(locale), "--start-conf", "auto",
        ]
        if running:
            create.append("--start")
        initdb = ["--data-checksums"] if data_checksums else []
        if wal_directory:
            # initdb, run as postgres, fills it: it must exist, be postgres's and be empty.
            yield StringCommand("install", "-d", "-o", "postgres", "-g", "postgres", "-m", "700",
                                "--", QuoteString(wal_directory))
            yield StringCommand("[", "-z", '"$(ls', "-A", "--", QuoteString(wal_directory),
                                ')"', "]", "||", "{", "echo",
                                QuoteString(f"{wal_directory} is not empty: initdb needs an "
                                            "empty WAL directory"), ">&2;", "exit", "1;", "}")
            initdb.append(QuoteString(f"--waldir={wal_directory}"))
        if initdb:
            create += ["--", *initdb]
        yield StringCommand(*create)
        return

    if wal_directory:
        live_wal, wanted_wal = host.get_fact(
            ResolvedPaths, paths=(f"{current.data_directory}/pg_wal", wal_directory))
        if live_wal != wanted_wal:
            raise OperationError(
                f"cluster {version}/{cluster} keeps its WAL in {live_wal}, the file asks for "
                f"postgres.wal_directory {wal_directory}: pgstead sets the WAL directory only "
                "when it creates a cluster and never moves WAL; move it by hand (stop the "
                "cluster, move pg_wal, link it) or set wal_directory to where it lives"
            )

    if current.port != port:
        raise OperationError(
            f"cluster {version}/{cluster} runs on port {current.port}, the file asks for {port}: "
            "pgstead does not move a live cluster; change it by hand or keep the old port"
        )
    if running and not current.running:
        yield StringCommand("pg_ctlcluster", str(version), QuoteString(cluster), "start")
        return
    host.noop(f"cluster {version}/{cluster} exists on port {port}"
              + (" and runs" if current.running else ""))
