"""Turn a validated environment document into the typed Environment, filling defaults."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from pgstead.config.budget import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_SUPERUSER_RESERVED,
    derived_connection_limit,
)
from pgstead.config.model import (
    DEFAULT_PGAUDIT_CLASSES,
    STRICT_PGAUDIT_CLASSES,
    TLS,
    Backups,
    CertPair,
    Compose,
    Database,
    Environment,
    Ha,
    HaEndpoints,
    Hardening,
    HbaRule,
    Monitoring,
    PgAudit,
    Pooler,
    Postgres,
    Security,
    Tuning,
    User,
)
from pgstead.config.secret import Secret
from pgstead.config.secrets import resolve_relative
from pgstead.postgres import units

_SIZE = re.compile(r"^([0-9]+) ?(kB|KB|MB|GB|TB)$")
_SIZE_FACTORS = {"kB": 1024, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def build_environment(document: dict, *, source: Path, state_dir: Path,
                      passwords: dict[str, Secret]) -> Environment:
    """`document` must have passed the schema and semantic checks; `passwords` by user name."""
    base_dir = source.parent
    postgres = _postgres(document.get("postgres", {}))
    env = Environment(
        name=document["name"],
        source=source,
        state_dir=state_dir,
        postgres=postgres,
        compose=_compose(document, postgres.version),
        tls=_tls(document.get("tls", {}), base_dir),
        databases=tuple(_database(d) for d in document.get("databases", [])),
        users=tuple(_user(u, passwords.get(u["name"])) for u in document.get("users", [])),
        hba=tuple(HbaRule(**rule) for rule in document.get("hba", [])),
        backups=_backups(document.get("backups")),
        pooler=_pooler(document.get("pooler"), postgres),
        monitoring=_monitoring(document.get("monitoring")),
        security=Security(**document.get("security", {})),
        hardening=_hardening(document.get("hardening", {})),
        ha=_ha(document.get("ha"), document["name"]),
    )
    return _with_statements(_hardened(env, document))


def parse_size(text: str) -> int:
    """'8GB' -> bytes, with PostgreSQL's 1024-based units."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"not a size: {text!r}")
    return int(match.group(1)) * _SIZE_FACTORS[match.group(2)]


def _postgres(raw: dict) -> Postgres:
    listen = raw.get("listen_addresses", ["localhost"])
    if isinstance(listen, str):
        listen = [part.strip() for part in listen.split(",")]
    values = {k: v for k, v in raw.items() if k not in ("listen_addresses", "tuning", "settings")}
    return Postgres(
        **values,
        listen_addresses=tuple(listen),
        tuning=_tuning(raw.get("tuning", {})),
        settings={str(k): units.to_postgres_text(v) for k, v in raw.get("settings", {}).items()},
    )


def _tuning(raw: dict) -> Tuning:
    memory, cpus = raw.get("memory", "auto"), raw.get("cpus", "auto")
    return Tuning(
        profile=raw.get("profile", "web"),
        memory_bytes=None if memory == "auto" else parse_size(memory),
        cpus=None if cpus == "auto" else cpus,
        storage=raw.get("storage", "ssd"),
    )


def _compose(document: dict, version: int) -> Compose | None:
    raw = document.get("compose")
    if raw is None:
        return None
    return Compose(
        project_dir=raw.get("project_dir", f"/opt/pgstead/{document['name']}"),
        image=raw.get("image", f"postgres:{version}"),
        bind=raw.get("bind", "127.0.0.1"),
    )


def _pair(raw: dict, base_dir: Path) -> CertPair:
    return CertPair(cert=resolve_relative(raw["cert"], base_dir),
                    key=resolve_relative(raw["key"], base_dir))


def _tls(raw: dict, base_dir: Path) -> TLS:
    enabled = raw.get("enabled", True)
    ca = raw.get("ca", "generate")
    simple = {k: v for k, v in raw.items() if k not in ("ca", "server_names", "host_certs")}
    return TLS(
        **{"require": enabled, **simple},
        ca=None if ca == "generate" else _pair(ca, base_dir),
        server_names=tuple(raw.get("server_names", [])),
        host_certs={host: _pair(pair, base_dir)
                    for host, pair in raw.get("host_certs", {}).items()},
    )


def _database(raw: dict) -> Database:
    return Database(
        name=raw["name"],
        owner=raw["owner"],
        schemas=tuple(raw.get("schemas", [])),
        extensions=tuple(raw.get("extensions", [])),
    )


def _user(raw: dict, password: Secret | None) -> User:
    lists = ("schemas", "attributes", "password")
    return User(
        **{k: v for k, v in raw.items() if k not in lists},
        schemas=tuple(raw.get("schemas", [])),
        attributes=tuple(raw.get("attributes", [])),
        password=password,
    )


def _backups(raw: dict | None) -> Backups:
    if raw is None:
        return Backups(enabled=False)
    databases = raw.get("databases", "all")
    values = {k: v for k, v in raw.items() if k != "databases"}
    return Backups(
        **{"enabled": True, **values},
        databases=None if databases == "all" else tuple(databases),
    )


def _pooler(raw: dict | None, postgres: Postgres) -> Pooler:
    if raw is None:
        return Pooler(enabled=False)
    lists = ("listen_addresses", "databases", "pools")
    return Pooler(
        **{"enabled": True, **{k: v for k, v in raw.items() if k not in lists}},
        listen_addresses=tuple(raw.get("listen_addresses", postgres.listen_addresses)),
        database_modes={d["name"]: d["pool_mode"] for d in raw.get("databases", [])
                        if "pool_mode" in d},
        pool_sizes={p["user"]: p["pool_size"] for p in raw.get("pools", [])},
    )


def _monitoring(raw: dict | None) -> Monitoring:
    if raw is None:
        return Monitoring()
    return Monitoring(**{"exporter": True, "statements": True, **raw})


STATEMENTS_EXTENSION = "pg_stat_statements"


def _with_statements(env: Environment) -> Environment:
    """pg_stat_statements in every declared database when monitoring.statements asks for it,
    as if the file listed it (the access role creates it with the database's extensions), so
    that an application's own connection and tools working in its database can read it."""
    if not env.monitoring.statements:
        return env
    return replace(env, databases=tuple(
        d if STATEMENTS_EXTENSION in d.extensions
        else replace(d, extensions=(*d.extensions, STATEMENTS_EXTENSION))
        for d in env.databases))


def _hardening(raw: dict) -> Hardening:
    level = raw.get("level", "baseline")
    pgaudit = raw.get("pgaudit", {})
    return Hardening(
        level=level,
        opt_out={item["control"]: item["reason"] for item in raw.get("opt_out", [])},
        pgaudit=PgAudit(
            enabled=pgaudit.get("enabled", level == "strict"),
            classes=tuple(pgaudit.get("classes", STRICT_PGAUDIT_CLASSES
                                      if level == "strict" else
                                      DEFAULT_PGAUDIT_CLASSES)),
        ),
        set_user=raw.get("set_user", level == "strict"),
    )


def _ha(raw: dict | None, name: str) -> Ha | None:
    if raw is None:
        return None
    synchronous = raw.get("synchronous", "on")
    if isinstance(synchronous, bool):  # YAML 1.1 reads a bare on/off as a boolean
        synchronous = "on" if synchronous else "off"
    hosts = raw.get("dcs", {}).get("hosts", "all")
    simple = {k: v for k, v in raw.items()
              if k not in ("synchronous", "dcs", "scope", "balancers", "endpoints")}
    balancers = raw.get("balancers", "all")
    return Ha(
        **simple,
        scope=raw.get("scope", name),
        synchronous=synchronous,
        dcs_hosts=None if hosts == "all" else tuple(hosts),
        balancers=None if balancers == "all" else tuple(balancers),
        endpoints=_endpoints(raw.get("endpoints", {})),
    )


def _endpoints(raw: dict) -> HaEndpoints:
    max_lag = raw.get("max_lag", "1MB")
    values = {k: v for k, v in raw.items() if k != "max_lag"}
    return HaEndpoints(**values,
                       max_lag_bytes=max_lag if isinstance(max_lag, int) else parse_size(max_lag))


def _hardened(env: Environment, document: dict) -> Environment:
    """A connection limit for each login user that declares none, while the hardening
    control connection_limits is active."""
    if env.hardening.enforces("connection_limits"):
        declared = {u["name"] for u in document.get("users", []) if "connection_limit" in u}
        present = [u for u in env.users if u.state == "present"]
        settings = env.postgres.settings
        share = derived_connection_limit(
            int(settings.get("max_connections", DEFAULT_MAX_CONNECTIONS)),
            int(settings.get("superuser_reserved_connections", DEFAULT_SUPERUSER_RESERVED)),
            [u.connection_limit for u in present if u.name in declared],
            sum(1 for u in present if u.name not in declared),
        )
        env = replace(env, users=tuple(
            u if u.name in declared or u.state != "present" else replace(u, connection_limit=share)
            for u in env.users))
    return env
