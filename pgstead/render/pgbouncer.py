"""pgbouncer's configuration and authentication file for one environment, rendered whole. Pure.

One pgbouncer per environment (`pgstead-<env>`), so that several environments on one host
never share a pooler. It reaches the server over the local socket; each pool is one declared
user in its database, capped by `max_user_connections`; `auth_type = scram-sha-256` with an
auth file holding the server's own verifiers, so a user the file does not name (postgres
among them) cannot log in at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pgstead.config.budget import Pool
from pgstead.config.model import Pooler

SOCKET_DIR = "/var/run/postgresql"
# Client settings pgbouncer passes over instead of refusing the connection: JDBC and
# node-postgres send extra_float_digits; pgbouncer cannot keep a per-client value anyway.
IGNORED_STARTUP_PARAMETERS = ("extra_float_digits",)
_BARE_NAME = re.compile(r"^[0-9A-Za-z_.-]+$")


@dataclass(frozen=True)
class PgbouncerPaths:
    config: str
    auth_file: str
    log: str


def pgbouncer_paths(env_name: str) -> PgbouncerPaths:
    stem = f"pgstead-{env_name}"
    return PgbouncerPaths(config=f"/etc/pgbouncer/{stem}.ini",
                          auth_file=f"/etc/pgbouncer/{stem}.users",
                          log=f"/var/log/postgresql/pgbouncer-{env_name}.log")


@dataclass(frozen=True)
class ClientTls:
    """TLS towards clients, with the server's own certificate and key."""

    sslmode: str  # require | prefer
    cert: str
    key: str
    ca: str
    min_protocol: str  # TLSv1.2 | TLSv1.3


def client_sslmode(enabled: bool, require: bool) -> str:
    """As strict as the server: TLS required when tls.require, offered when only enabled."""
    if not enabled:
        return "disable"
    return "require" if require else "prefer"


def _protocols(min_protocol: str) -> str:
    return "tlsv1.3" if min_protocol == "TLSv1.3" else "tlsv1.2,tlsv1.3"


def _key(name: str) -> str:
    """A database or user name as an ini key: bare when pgbouncer reads it so, else quoted."""
    return name if _BARE_NAME.match(name) else '"' + name.replace('"', '""') + '"'


def _value(text: str) -> str:
    # A libpq connection-string value, single-quoted.
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render_pgbouncer_ini(*, env_name: str, source: str, pooler: Pooler, pools: Iterable[Pool],
                         server_port: int, paths: PgbouncerPaths,
                         tls: ClientTls | None) -> str:
    pools = list(pools)
    databases: dict[str, list[Pool]] = {}
    for pool in pools:
        databases.setdefault(pool.database, []).append(pool)
    lines = [f";; pgbouncer of environment {env_name}: managed by pgstead from {source}; "
             "edits are overwritten.", "", "[databases]"]
    for database, members in databases.items():
        size = max(p.size for p in members)
        lines.append(f"{_key(database)} = host={SOCKET_DIR} port={server_port} "
                     f"dbname={_value(database)} pool_size={size} "
                     f"pool_mode={pooler.mode_of(database)}")
    lines += ["", "[users]"]
    lines += [f"{_key(p.user)} = max_user_connections={p.size}" for p in pools]
    lines += ["", "[pgbouncer]",
              f"listen_addr = {','.join(pooler.listen_addresses)}",
              f"listen_port = {pooler.port}",
              f"unix_socket_dir = {SOCKET_DIR}",
              "auth_type = scram-sha-256",
              f"auth_file = {paths.auth_file}",
              f"max_client_conn = {pooler.max_client_conn}",
              f"default_pool_size = {pooler.default_pool_size}",
              f"pool_mode = {pooler.pool_mode}",
              f"ignore_startup_parameters = {','.join(IGNORED_STARTUP_PARAMETERS)}",
              # The server is on the local socket: nothing to encrypt towards it.
              "server_tls_sslmode = disable"]
    if tls is None:
        lines.append("client_tls_sslmode = disable")
    else:
        lines += [f"client_tls_sslmode = {tls.sslmode}",
                  f"client_tls_cert_file = {tls.cert}",
                  f"client_tls_key_file = {tls.key}",
                  f"client_tls_ca_file = {tls.ca}",
                  f"client_tls_protocols = {_protocols(tls.min_protocol)}"]
    return "\n".join(lines) + "\n"


def render_auth_file(verifiers: dict[str, str]) -> str:
    """`"user" "SCRAM-SHA-256$..."` per line: the verifiers exactly as the server stores them."""
    def quoted(text: str) -> str:
        return '"' + text.replace('"', '""') + '"'

    return "".join(f"{quoted(user)} {quoted(verifier)}\n"
                   for user, verifier in sorted(verifiers.items()))
