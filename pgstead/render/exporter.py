"""prometheus-postgres-exporter's files for one environment: its queries and web config. Pure.

The exporter connects over the local socket as MONITOR_ROLE, a role with pg_monitor that
pg_hba.conf admits only by peer authentication from the OS user of the same name (the one
Debian's package creates), so no password exists for it anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

MONITOR_ROLE = "prometheus"
# The basic auth user of an exporter on a declared address (its password is generated in the
# controller's state, for Prometheus' scrape config).
WEB_USER = "prometheus"
EXPORTER = "/usr/bin/prometheus-postgres-exporter"
SOCKET_DIR = "/var/run/postgresql"
LOOPBACK = {"localhost", "127.0.0.1", "::1"}

# Columns as PostgreSQL 13 named them (total_exec_time, mean_exec_time; 0.11's own example
# file still reads total_time, which 13 renamed). The 20 statements with most time only:
# one series per statement and user would grow without bound.
STATEMENTS_QUERY = """\
pgstead_statements:
  query: >-
    SELECT d.datname, r.rolname, s.queryid::text AS queryid, s.calls,
           s.total_exec_time / 1000 AS total_seconds, s.mean_exec_time / 1000 AS mean_seconds,
           s.rows
    FROM pg_stat_statements AS s
    JOIN pg_database AS d ON d.oid = s.dbid
    JOIN pg_roles AS r ON r.oid = s.userid
    ORDER BY s.total_exec_time DESC LIMIT 20
  metrics:
    - datname: {usage: LABEL, description: Database}
    - rolname: {usage: LABEL, description: User}
    - queryid: {usage: LABEL, description: pg_stat_statements queryid}
    - calls: {usage: COUNTER, description: Times executed}
    - total_seconds: {usage: COUNTER, description: Total execution time in seconds}
    - mean_seconds: {usage: GAUGE, description: Mean execution time in seconds}
    - rows: {usage: COUNTER, description: Rows retrieved or affected}
"""

BASE_QUERIES = """\
pgstead_replication:
  query: >-
    SELECT application_name, client_addr::text AS client_addr,
           coalesce(extract(epoch FROM replay_lag), 0) AS replay_lag_seconds,
           pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) AS replay_lag_bytes
    FROM pg_stat_replication
  metrics:
    - application_name: {usage: LABEL, description: Replica}
    - client_addr: {usage: LABEL, description: Replica address}
    - replay_lag_seconds: {usage: GAUGE, description: Replay lag in seconds}
    - replay_lag_bytes: {usage: GAUGE, description: WAL not yet replayed, in bytes}
pgstead_connections:
  query: >-
    SELECT coalesce(usename, '') AS usename, count(*) AS count,
           coalesce(max(extract(epoch FROM now() - xact_start)), 0) AS longest_transaction_seconds
    FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY usename
  metrics:
    - usename: {usage: LABEL, description: User}
    - count: {usage: GAUGE, description: Client connections}
    - longest_transaction_seconds: {usage: GAUGE, description: Age of the oldest open transaction}
"""


@dataclass(frozen=True)
class ExporterPaths:
    queries: str
    web_config: str
    tls_cert: str
    tls_key: str
    log: str


def exporter_paths(env_name: str) -> ExporterPaths:
    stem = f"/etc/pgstead/exporter-{env_name}"
    return ExporterPaths(queries=f"{stem}-queries.yaml", web_config=f"{stem}-web.yaml",
                         tls_cert=f"{stem}.crt", tls_key=f"{stem}.key",
                         log=f"/var/log/pgstead-exporter-{env_name}.log")


def exposed(listen_address: str) -> bool:
    """Whether the exporter listens beyond loopback (then TLS and basic auth are on)."""
    return listen_address not in LOOPBACK


def render_queries(statements: bool) -> str:
    return ("# managed by pgstead; edits are overwritten.\n" + BASE_QUERIES
            + (STATEMENTS_QUERY if statements else ""))


def render_web_config(paths: ExporterPaths, user: str, bcrypt_hash: str) -> str:
    """TLS with the server's certificate (a copy the exporter's user can read) and one basic
    auth user, for an exporter on a declared address."""
    return ("# managed by pgstead; edits are overwritten.\n"
            "tls_server_config:\n"
            f"  cert_file: {paths.tls_cert}\n"
            f"  key_file: {paths.tls_key}\n"
            "  min_version: TLS12\n"
            "basic_auth_users:\n"
            f"  {user}: '{bcrypt_hash}'\n")


def data_source(server_port: int) -> str:
    """libpq keywords for the local socket, as the peer-authenticated monitor role."""
    return (f"host={SOCKET_DIR} port={server_port} user={MONITOR_ROLE} dbname=postgres "
            "sslmode=disable")


def exporter_argv(listen_address: str, port: int, paths: ExporterPaths) -> tuple[str, ...]:
    host = f"[{listen_address}]" if ":" in listen_address else listen_address
    argv = [EXPORTER, f"--web.listen-address={host}:{port}",
            f"--extend.query-path={paths.queries}", "--log.level=warn"]
    if exposed(listen_address):
        argv.append(f"--web.config.file={paths.web_config}")
    return tuple(argv)
