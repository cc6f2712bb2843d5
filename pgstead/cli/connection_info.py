"""How an application connects as one declared user: DATABASE_URL and DB_* variables. Pure.

The pool-size hint splits the user's connection_limit across its `app_replicas`, after
keeping a tenth of the limit (at least one connection) free for migrations, an operator's
psql and the overlap of old and new processes during a deploy:

    pool = max(1, (limit - max(1, ceil(limit / 10))) // app_replicas)

A user without a limit gets DEFAULT_POOL_SIZE per process.

With `ha`, the URL names every member (libpq's multi-host form, host=a,b,c) and
target_session_attrs picks the one that fits: read-write (the leader) for users that write,
prefer-standby (a replica, else the leader) for readonly users. connect_timeout and
tcp_user_timeout make a client give up on a dead member in seconds and try the next, instead
of hanging while the killed host drops its packets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from pgstead.cli.driver_hints import DRIVERS
from pgstead.config.budget import pooled_users
from pgstead.config.model import Environment, User
from pgstead.config.secret import Secret
from pgstead.pki import client_cert_paths
from pgstead.pki.locations import ca_cert_path, pki_dir

DEFAULT_POOL_SIZE = 10
MASK = "********"
# Seconds libpq waits for each host before it tries the next one (a multi-host URL).
HA_CONNECT_TIMEOUT = 5
# Milliseconds sent data may stay unacknowledged before the connection counts as dead.
HA_TCP_USER_TIMEOUT = 10000
_WILDCARDS = {"*", "0.0.0.0", "::", ""}


class ConnectionInfoError(ValueError):
    """The asked-for user cannot be connected as (unknown, absent, without a database)."""


@dataclass(frozen=True)
class ConnectionInfo:
    user: str
    password: Secret | None  # None for `auth: cert` users; a Secret never shows in a repr
    hosts: tuple[str, ...]  # one host, or every member of an HA cluster
    port: int
    database: str
    ssl_mode: str  # verify-full with TLS, disable without
    ssl_root_cert: Path | None
    ssl_cert: Path | None
    ssl_key: Path | None
    pool_size: int
    target_session_attrs: str | None = None  # HA: read-write | prefer-standby
    # Through the pooler: the server's own port for DIRECT_DATABASE_URL, and the pool's mode.
    direct_port: int | None = None
    pool_mode: str | None = None
    url_params: tuple[tuple[str, str], ...] = ()  # a driver's settings that go in the URL

    @property
    def host(self) -> str:
        """The hosts as libpq's host= and PGHOST read them: comma-separated."""
        return ",".join(self.hosts)

    @property
    def on_socket(self) -> bool:
        """A Unix-socket directory (libpq's rule: a host starting with '/')."""
        return self.host.startswith("/")

    def database_url(self, *, show_secrets: bool = False, direct: bool = False) -> str:
        credentials = quote(self.user, safe="")
        if self.password is not None:
            credentials += ":" + (quote(self.password.reveal(), safe="") if show_secrets
                                  else MASK)
        port = self.direct_port if direct and self.direct_port else self.port
        params = [("sslmode", self.ssl_mode)]
        if not direct:
            params += list(self.url_params)
        if self.on_socket:  # the directory goes in host=; the authority keeps only the port
            netloc = f":{port}"
            params.insert(0, ("host", self.host))
        else:
            netloc = ",".join(f"{_bracketed(h)}:{port}" for h in self.hosts)
        params += [(key, str(path)) for key, path in (
            ("sslrootcert", self.ssl_root_cert), ("sslcert", self.ssl_cert),
            ("sslkey", self.ssl_key)) if path is not None]
        params += self._failover_params()
        query = "&".join(f"{key}={quote(value, safe='/')}" for key, value in params)
        return (f"postgresql://{credentials}@{netloc}/"
                f"{quote(self.database, safe='')}?{query}")

    def connect_kwargs(self) -> dict[str, str | int]:
        """Keyword arguments for psycopg.connect: the password travels as a keyword, never in
        a command line or a URL that could be printed."""
        out: dict[str, str | int] = {"host": self.host, "port": self.port,
                                     "dbname": self.database, "user": self.user,
                                     "sslmode": self.ssl_mode}
        for key, path in (("sslrootcert", self.ssl_root_cert), ("sslcert", self.ssl_cert),
                          ("sslkey", self.ssl_key)):
            if path is not None:
                out[key] = str(path)
        if self.target_session_attrs is not None:
            out["target_session_attrs"] = self.target_session_attrs
        if self.password is not None:
            out["password"] = self.password.reveal()
        return out

    def _failover_params(self) -> list[tuple[str, str]]:
        if self.target_session_attrs is None:
            return []
        return [("target_session_attrs", self.target_session_attrs),
                ("connect_timeout", str(HA_CONNECT_TIMEOUT)),
                ("tcp_user_timeout", str(HA_TCP_USER_TIMEOUT))]

    def variables(self, *, show_secrets: bool = False) -> dict[str, str]:
        """The variables, in the order they are printed; the password masked unless asked."""
        password = ("" if self.password is None
                    else self.password.reveal() if show_secrets else MASK)
        out = {"DATABASE_URL": self.database_url(show_secrets=show_secrets)}
        if self.direct_port is not None:
            out["DIRECT_DATABASE_URL"] = self.database_url(show_secrets=show_secrets, direct=True)
        out |= {
            "DB_TYPE": "postgres",
            "DB_HOST": self.host,
            "DB_PORT": ",".join(str(self.port) for _ in self.hosts),
            "DB_NAME": self.database,
            "DB_USER": self.user,
            "DB_PASSWORD": password,
            "DB_SSL_MODE": self.ssl_mode,
            "DB_SSL_ROOT_CERT": str(self.ssl_root_cert or ""),
        }
        if self.ssl_cert is not None and self.ssl_key is not None:
            out["DB_SSL_CERT"] = str(self.ssl_cert)
            out["DB_SSL_KEY"] = str(self.ssl_key)
        if self.target_session_attrs is not None:
            out["DB_TARGET_SESSION_ATTRS"] = self.target_session_attrs
            out["DB_CONNECT_TIMEOUT"] = str(HA_CONNECT_TIMEOUT)
        out["DB_POOL_SIZE"] = str(self.pool_size)
        if self.pool_mode is not None:
            out["DB_POOL_MODE"] = self.pool_mode
        return out


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def pool_size(connection_limit: int, app_replicas: int) -> int:
    if connection_limit < 0:
        return DEFAULT_POOL_SIZE
    headroom = max(1, math.ceil(connection_limit / 10))
    return max(1, (connection_limit - headroom) // max(1, app_replicas))


def default_host(env: Environment, pooled: bool = False) -> str:
    """Where the server (or its pooler) answers: compose's published bind address or the first
    listen address, unless that is a wildcard; else localhost."""
    if pooled:
        candidates = list(env.pooler.listen_addresses[:1])
    elif env.postgres.install == "compose" and env.compose:
        candidates = [env.compose.bind]
    else:
        candidates = list(env.postgres.listen_addresses[:1])
    return next((c for c in candidates if c not in _WILDCARDS), "localhost")


def _user(env: Environment, name: str) -> User:
    user = env.user(name)
    declared = ", ".join(u.name for u in env.users if u.state == "present") or "none"
    if user is None:
        raise ConnectionInfoError(f"no user {name!r} in {env.source} (declared: {declared})")
    if user.state != "present" or user.database is None:
        raise ConnectionInfoError(f"user {name!r} is declared absent or has no database")
    return user


def connection_info(env: Environment, user_name: str, host: str | None = None,
                    members: Sequence[str] = (), driver: str | None = None) -> ConnectionInfo:
    """How `user_name` connects. `host` overrides where (with `ha`: a comma-separated list);
    `members` are the addresses of an HA cluster's members, from the inventory. Through the
    pooler when it runs and admits the user (a password user), with DIRECT_DATABASE_URL for
    what must bypass it; `driver` adds that driver's URL settings for a transaction pool."""
    user = _user(env, user_name)
    pooled = env.pooler.enabled and user.name in {u.name for u in pooled_users(env)}
    mode = env.pooler.mode_of(user.database or "") if pooled else None
    params = DRIVERS[driver].url_params if driver and mode == "transaction" else ()
    hosts = _hosts(env, host, members, pooled)
    # TLS does not apply on a Unix socket (libpq never negotiates it there): say so plainly.
    tls = env.tls.enabled and not hosts[0].startswith("/")
    cert = key = None
    if tls and user.auth == "cert":
        cert, key = client_cert_paths(pki_dir(env), user.name)
    return ConnectionInfo(
        user=user.name,
        password=user.password,
        hosts=hosts,
        port=env.pooler.port if pooled else env.postgres.port,
        database=user.database,
        ssl_mode="verify-full" if tls else "disable",
        ssl_root_cert=ca_cert_path(env) if tls else None,
        ssl_cert=cert,
        ssl_key=key,
        pool_size=pool_size(user.connection_limit, user.app_replicas),
        target_session_attrs=None if env.ha is None else (
            "prefer-standby" if user.role == "readonly" else "read-write"),
        direct_port=env.postgres.port if pooled else None,
        pool_mode=mode,
        url_params=params,
    )


def _hosts(env: Environment, host: str | None, members: Sequence[str],
           pooled: bool = False) -> tuple[str, ...]:
    if env.ha is None:
        return (host or default_host(env, pooled),)
    chosen = [h.strip() for h in host.split(",")] if host else list(members)
    if not [h for h in chosen if h]:
        raise ConnectionInfoError(f"{env.source} is an HA cluster: pass --inventory (its "
                                  "members) or --host a,b,c")
    return tuple(h for h in chosen if h)
