"""Patroni's configuration file for one member, and the dynamic configuration pgstead wants.

The file holds what is this host's own (its name and addresses, its per-host parameters, the
credentials, pg_hba) plus the `bootstrap.dcs` section, which Patroni reads once, when it
creates the cluster; afterwards the dynamic configuration changes only through the REST API
(`dynamic_config` is what pgstead compares against `GET /config`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import yaml

from pgstead.config.model import Environment
from pgstead.render.ha_layout import (
    API_PORT,
    API_USER,
    CA_CERT,
    ETCD_CLIENT_PORT,
    MEMBER_CERT,
    MEMBER_KEY,
    PATRONI_DIR,
    REPLICATION_USER,
    REWIND_USER,
    Member,
    data_directory,
)

# Patroni sets these itself (command line or its own logic): never from `settings`.
PATRONI_OWNED = frozenset({"listen_addresses", "port", "cluster_name", "hot_standby",
                           "unix_socket_directories"})
# Tuned from the host's own memory and CPUs: each member keeps its own value (local file).
# Parameters replicas must not have lower than the leader (max_connections,
# max_worker_processes, ...) stay cluster-wide.
PER_HOST = frozenset({"shared_buffers", "effective_cache_size", "maintenance_work_mem",
                      "work_mem", "max_parallel_workers_per_gather", "max_parallel_workers",
                      "max_parallel_maintenance_workers", "effective_io_concurrency"})


def split_parameters(settings: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(cluster-wide, per-host) parameters of one member, Patroni's own left out."""
    wanted = {k: v for k, v in settings.items() if k not in PATRONI_OWNED}
    cluster = {k: v for k, v in wanted.items() if k not in PER_HOST}
    local = {k: v for k, v in wanted.items() if k in PER_HOST}
    return cluster, local


@dataclass(frozen=True)
class PatroniSecrets:
    replication: str = ""
    rewind: str = ""
    api: str = ""


def synchronous_flags(synchronous: str) -> dict[str, bool]:
    return {"synchronous_mode": synchronous in ("on", "strict"),
            "synchronous_mode_strict": synchronous == "strict"}


def dynamic_config(env: Environment, parameters: dict[str, str]) -> dict:
    """The cluster-wide part: timings, modes and the parameters every member shares."""
    ha = env.ha
    assert ha is not None
    return {
        "ttl": ha.ttl,
        "loop_wait": ha.loop_wait,
        "retry_timeout": ha.retry_timeout,
        "maximum_lag_on_failover": 1048576,
        # Keep the leader running while etcd is unreachable, as long as every member answers.
        "failsafe_mode": True,
        **synchronous_flags(ha.synchronous),
        "postgresql": {
            "use_pg_rewind": True,
            "use_slots": True,
            "parameters": dict(parameters),
        },
    }


def render_patroni_config(env: Environment, me: Member, etcd: Sequence[Member],
                          local_parameters: dict[str, str], cluster_parameters: dict[str, str],
                          hba: Sequence[str], secrets: PatroniSecrets) -> str:
    """The member's whole patroni.yml (mode 0600, owner postgres: it holds passwords)."""
    ha = env.ha
    assert ha is not None
    pg = env.postgres
    ca = f"{PATRONI_DIR}/{CA_CERT}"
    cert = f"{PATRONI_DIR}/{MEMBER_CERT}"
    key = f"{PATRONI_DIR}/{MEMBER_KEY}"
    verify = {"sslmode": "verify-full", "sslrootcert": ca}
    config = {
        "scope": ha.scope or env.name,
        "namespace": "/pgstead/",
        "name": me.name,
        "restapi": {
            "listen": f"0.0.0.0:{API_PORT}",
            "connect_address": f"{me.address}:{API_PORT}",
            "certfile": cert,
            "keyfile": key,
            "cafile": ca,
            # Basic auth on the endpoints that change state (POST, PATCH, PUT, DELETE).
            "authentication": {"username": API_USER, "password": secrets.api},
        },
        "ctl": {"cacert": ca, "certfile": cert, "keyfile": key, "insecure": False},
        "etcd3": {
            "hosts": [f"{m.address}:{ETCD_CLIENT_PORT}" for m in etcd],
            "protocol": "https",
            "cacert": ca,
            "cert": cert,
            "key": key,
        },
        "bootstrap": {
            "dcs": dynamic_config(env, cluster_parameters),
            "initdb": [{"encoding": "UTF8"}, {"locale": pg.locale},
                       *(["data-checksums"] if pg.data_checksums else [])],
        },
        "postgresql": {
            "listen": f"{me.address},127.0.0.1:{pg.port}",
            "connect_address": f"{me.address}:{pg.port}",
            "data_dir": data_directory(pg.version, ha.scope or env.name),
            "bin_dir": f"/usr/lib/postgresql/{pg.version}/bin",
            "pgpass": "/var/lib/postgresql/.pgpass-patroni",
            # Patroni reaches its own server as postgres over the socket (peer): no superuser
            # password exists, and the hardening's reject of postgres over TCP stays whole.
            "use_unix_socket": True,
            "authentication": {
                "superuser": {"username": "postgres"},
                "replication": {"username": REPLICATION_USER, "password": secrets.replication,
                                **verify},
                "rewind": {"username": REWIND_USER, "password": secrets.rewind, **verify},
            },
            "parameters": {"unix_socket_directories": "/var/run/postgresql",
                           **local_parameters},
            "pg_hba": list(hba),
            "create_replica_methods": ["basebackup"],
            "basebackup": [{"checkpoint": "fast"}],
            "remove_data_directory_on_rewind_failure": True,
        },
        # Containers have no watchdog device; "required" would stop every member.
        "watchdog": {"mode": "off"},
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False,
                 "nosync": False},
    }
    return "# Patroni member config: managed by pgstead; edits are overwritten.\n" + \
        yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
