"""How an application connects as one declared user: DATABASE_URL and DB_* variables. Pure.

The pool-size hint splits the user's connection_limit across its `app_replicas`, after
keeping a tenth of the limit (at least one connection) free for migrations, an operator's
psql and the overlap of old and new processes during a deploy:

    pool = max(1, (limit - max(1, ceil(limit / 10))) // app_replicas)

A user without a limit gets DEFAULT_POOL_SIZE per process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from pgstead.config.model import Environment, User
from pgstead.config.secret import Secret
from pgstead.pki import client_cert_paths
from pgstead.pki.locations import ca_cert_path, pki_dir

DEFAULT_POOL_SIZE = 10
MASK = "********"
_WILDCARDS = {"*", "0.0.0.0", "::", ""}


class ConnectionInfoError(ValueError):
    """The asked-for user cannot be connected as (unknown, absent, without a database)."""


@dataclass(frozen=True)
class ConnectionInfo:
    user: str
    password: Secret | None  # None for `auth: cert` users; a Secret never shows in a repr
    host: str
    port: int
    database: str
    ssl_mode: str  # verify-full with TLS, disable without
    ssl_root_cert: Path | None
    ssl_cert: Path | None
    ssl_key: Path | None
    pool_size: int

    def database_url(self, *, show_secrets: bool = False) -> str:
        credentials = quote(self.user, safe="")
        if self.password is not None:
            credentials += ":" + (quote(self.password.reveal(), safe="") if show_secrets
                                  else MASK)
        host = f"[{self.host}]" if ":" in self.host else self.host
        params = [("sslmode", self.ssl_mode)]
        params += [(key, str(path)) for key, path in (
            ("sslrootcert", self.ssl_root_cert), ("sslcert", self.ssl_cert),
            ("sslkey", self.ssl_key)) if path is not None]
        query = "&".join(f"{key}={quote(value, safe='/')}" for key, value in params)
        return (f"postgresql://{credentials}@{host}:{self.port}/"
                f"{quote(self.database, safe='')}?{query}")

    def variables(self, *, show_secrets: bool = False) -> dict[str, str]:
        """The variables, in the order they are printed; the password masked unless asked."""
        password = ("" if self.password is None
                    else self.password.reveal() if show_secrets else MASK)
        out = {
            "DATABASE_URL": self.database_url(show_secrets=show_secrets),
            "DB_TYPE": "postgres",
            "DB_HOST": self.host,
            "DB_PORT": str(self.port),
            "DB_NAME": self.database,
            "DB_USER": self.user,
            "DB_PASSWORD": password,
            "DB_SSL_MODE": self.ssl_mode,
            "DB_SSL_ROOT_CERT": str(self.ssl_root_cert or ""),
        }
        if self.ssl_cert is not None and self.ssl_key is not None:
            out["DB_SSL_CERT"] = str(self.ssl_cert)
            out["DB_SSL_KEY"] = str(self.ssl_key)
        out["DB_POOL_SIZE"] = str(self.pool_size)
        return out


def pool_size(connection_limit: int, app_replicas: int) -> int:
    if connection_limit < 0:
        return DEFAULT_POOL_SIZE
    headroom = max(1, math.ceil(connection_limit / 10))
    return max(1, (connection_limit - headroom) // max(1, app_replicas))


def default_host(env: Environment) -> str:
    """Where the server answers: compose's published bind address or the first listen address,
    unless that is a wildcard; else localhost."""
    candidates = ([env.compose.bind] if env.postgres.install == "compose" and env.compose
                  else list(env.postgres.listen_addresses[:1]))
    return next((c for c in candidates if c not in _WILDCARDS), "localhost")


def _user(env: Environment, name: str) -> User:
    user = env.user(name)
    declared = ", ".join(u.name for u in env.users if u.state == "present") or "none"
    if user is None:
        raise ConnectionInfoError(f"no user {name!r} in {env.source} (declared: {declared})")
    if user.state != "present" or user.database is None:
        raise ConnectionInfoError(f"user {name!r} is declared absent or has no database")
    return user


def connection_info(env: Environment, user_name: str, host: str | None = None) -> ConnectionInfo:
    user = _user(env, user_name)
    tls = env.tls.enabled
    cert = key = None
    if tls and user.auth == "cert":
        cert, key = client_cert_paths(pki_dir(env), user.name)
    return ConnectionInfo(
        user=user.name,
        password=user.password,
        host=host or default_host(env),
        port=env.postgres.port,
        database=user.database,
        ssl_mode="verify-full" if tls else "disable",
        ssl_root_cert=ca_cert_path(env) if tls else None,
        ssl_cert=cert,
        ssl_key=key,
        pool_size=pool_size(user.connection_limit, user.app_replicas),
    )
