"""The typed Environment: what a validated environment YAML means, defaults filled in.

Everything downstream (roles, operations, CLI) reads these objects, never the raw YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pgstead.config.secret import Secret


@dataclass(frozen=True)
class Tuning:
    profile: str = "web"  # web | oltp | dw | mixed | desktop | none
    memory_bytes: int | None = None  # None: read the host's memory fact
    cpus: int | None = None  # None: read the host's CPU fact
    storage: str = "ssd"  # ssd | hdd | san


@dataclass(frozen=True)
class Postgres:
    version: int = 15
    install: str = "native"  # native | compose
    cluster: str = "main"
    port: int = 5432
    listen_addresses: tuple[str, ...] = ("localhost",)
    data_checksums: bool = True
    wal_directory: str | None = None  # a new native cluster's WAL outside the data directory
    locale: str = "C.UTF-8"
    restart_policy: str = "auto"  # auto | never
    tuning: Tuning = field(default_factory=Tuning)
    # Server parameters as PostgreSQL text ("on", "256MB", "1min"), in file order.
    settings: dict[str, str] = field(default_factory=dict)
    # Where packages come from: "auto" (distro if it has the major, else PGDG) | distro | pgdg
    repository: str = "auto"
    # none | minor: bring the server's packages to the newest version the apt sources offer
    upgrade: str = "none"


@dataclass(frozen=True)
class Compose:
    project_dir: str = ""
    image: str = ""
    bind: str = "127.0.0.1"


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class TLS:
    enabled: bool = True
    ca: CertPair | None = None  # None: generate a CA on the controller
    server_names: tuple[str, ...] = ()
    days: int = 825
    renew_before_days: int = 30
    min_protocol: str = "TLSv1.2"
    require: bool = True
    # Ready server certificates per inventory host name, for a company CA.
    host_certs: dict[str, CertPair] = field(default_factory=dict)


@dataclass(frozen=True)
class Database:
    name: str
    owner: str
    schemas: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()


@dataclass(frozen=True)
class User:
    name: str
    state: str = "present"  # present | absent
    role: str | None = None  # owner | readwrite | readonly
    database: str | None = None
    schemas: tuple[str, ...] = ()  # empty: every schema of the database
    password: Secret | None = None
    auth: str = "password"  # password | cert
    connection_limit: int = -1
    valid_until: str | None = None
    # Extra role attributes the file asks for by name: createrole, createdb, replication, bypassrls.
    attributes: tuple[str, ...] = ()
    app_replicas: int = 1  # app processes sharing connection_limit, for the pool-size hint


@dataclass(frozen=True)
class HbaRule:
    type: str  # local | host | hostssl | hostnossl
    database: str
    user: str
    method: str
    address: str | None = None


@dataclass(frozen=True)
class Backups:
    enabled: bool = False
    schedule: str = "0 2 * * *"
    dir: str = "/var/backups/pgstead"
    databases: tuple[str, ...] | None = None  # None: all databases
    format: str = "custom"  # custom | directory | plain
    compression: str = "zstd"  # zstd | gzip | none
    keep: int = 10
    verify: bool = True
    jobs: int = 2  # parallel dump/restore jobs for the directory format
    method: str = "pg_dump"  # pg_dump (logical dumps) | pgbackrest (physical, WAL archive, PITR)


@dataclass(frozen=True)
class Pooler:
    enabled: bool = False
    port: int = 6432
    listen_addresses: tuple[str, ...] = ("localhost",)
    max_client_conn: int = 1000
    pool_mode: str = "transaction"  # transaction | session
    default_pool_size: int = 20
    direct_connections: int = 3
    database_modes: dict[str, str] = field(default_factory=dict)  # database -> pool_mode
    pool_sizes: dict[str, int] = field(default_factory=dict)  # user -> declared pool_size

    def mode_of(self, database: str) -> str:
        return self.database_modes.get(database, self.pool_mode)


@dataclass(frozen=True)
class Monitoring:
    exporter: bool = False
    statements: bool = False
    port: int = 9187
    listen_address: str = "127.0.0.1"
    max_replica_lag_seconds: int = 60
    connection_alarm_percent: int = 90


@dataclass(frozen=True)
class Security:
    allow_trust: bool = False  # permit `trust` in hba rules
    allow_literal_passwords: bool = False  # permit `password: {value: ...}` in the YAML


# pgaudit's log classes when the file names none.
DEFAULT_PGAUDIT_CLASSES = ("ddl", "role")
STRICT_PGAUDIT_CLASSES = ("ddl", "role", "write")


@dataclass(frozen=True)
class PgAudit:
    enabled: bool = False
    classes: tuple[str, ...] = DEFAULT_PGAUDIT_CLASSES  # pgaudit.log classes


@dataclass(frozen=True)
class Hardening:
    level: str = "baseline"  # baseline | strict | off
    opt_out: dict[str, str] = field(default_factory=dict)  # control name -> reason
    pgaudit: PgAudit = field(default_factory=PgAudit)
    set_user: bool = False

    def enforces(self, control: str) -> bool:
        """Whether the file leaves a hardening control on (the level is not off, no opt-out).

        Enough for the controls that apply to every install mode whenever they are on; the
        full table, with each control's own conditions, is pgstead.desired.hardening.
        """
        return self.level != "off" and control not in self.opt_out


@dataclass(frozen=True)
class HaEndpoints:
    """`ha.endpoints`: HAProxy's ports on each balancer (see pgstead.render.haproxy)."""

    bind: str = "0.0.0.0"
    leader_port: int = 5000
    read_port: int = 5001
    max_lag_bytes: int = 1024 * 1024  # replicas replaying further behind leave the read port
    stats_port: int = 7000  # on 127.0.0.1 only
    # With a pooler: the leader's PostgreSQL itself, past pgbouncer (migrations).
    direct_port: int = 5002


@dataclass(frozen=True)
class Ha:
    """`ha:`: the environment's hosts run one Patroni cluster with etcd as its consensus store.

    The members are not listed here: they are the inventory's hosts for the environment.
    """

    engine: str = "patroni"
    scope: str = ""  # Patroni's scope; the build fills in the environment name
    synchronous: str = "on"  # off | on | strict
    ttl: int = 10  # seconds the leader lock lives; loop_wait + 2 * retry_timeout <= ttl
    loop_wait: int = 2
    retry_timeout: int = 4
    dcs_hosts: tuple[str, ...] | None = None  # etcd members by host name; None: every host
    replica_method: str = "basebackup"
    balancers: tuple[str, ...] | None = None  # HAProxy hosts by name; None: every member
    endpoints: HaEndpoints = field(default_factory=HaEndpoints)
    vip: str | None = None  # 10.0.0.50/24: keepalived keeps it on the leader
    interface: str | None = None  # the interface that carries vip


@dataclass(frozen=True)
class Environment:
    name: str
    source: Path  # the YAML file it was loaded from
    state_dir: Path  # controller-side secrets and PKI for this environment, 0700
    postgres: Postgres = field(default_factory=Postgres)
    compose: Compose | None = None
    tls: TLS = field(default_factory=TLS)
    databases: tuple[Database, ...] = ()
    users: tuple[User, ...] = ()
    hba: tuple[HbaRule, ...] = ()
    backups: Backups = field(default_factory=Backups)
    pooler: Pooler = field(default_factory=Pooler)
    monitoring: Monitoring = field(default_factory=Monitoring)
    security: Security = field(default_factory=Security)
    hardening: Hardening = field(default_factory=Hardening)
    ha: Ha | None = None  # None: each host runs one standalone server

    def user(self, name: str) -> User | None:
        return next((u for u in self.users if u.name == name), None)

    def database(self, name: str) -> Database | None:
        return next((d for d in self.databases if d.name == name), None)
