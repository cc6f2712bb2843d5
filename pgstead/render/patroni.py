"""Patroni's configuration file for one member.

The file holds what is this host's own (its name and addresses, its per-host parameters, the
credentials, pg_hba) and, on one member only, the `bootstrap` section, which Patroni reads
once, when it creates the cluster; afterwards the dynamic configuration changes only through
the REST API. Patroni 3.0.2 races for creating a cluster only on members whose file has that
section: with it on one member, which host leads a new cluster is known before it exists, so
a plan on fresh hosts can name where the first writes go.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import yaml

from pgstead.config.members import Member
from pgstead.config.model import Environment
from pgstead.render.ha_layout import (
    API_PORT,
    API_USER,
    CA_CERT,
    ETCD_CLIENT_PORT,
    ETCD_LEADERSHIP_PROGRAM,
    MEMBER_CERT,
    MEMBER_KEY,
    PATRONI_CONFIG,
    PATRONI_DIR,
    PATRONI_NAMESPACE,
    REPLICATION_USER,
    REWIND_USER,
    data_directory,
)
from pgstead.render.pgbackrest import replica_command, restore_command, uses_pgbackrest


@dataclass(frozen=True)
class PatroniSecrets:
    replication: str = ""
    rewind: str = ""
    api: str = ""


def render_patroni_config(env: Environment, me: Member, etcd: Sequence[Member],
                          local_parameters: dict[str, str], bootstrap_dcs: dict | None,
                          hba: Sequence[str], secrets: PatroniSecrets) -> str:
    """The member's whole patroni.yml (mode 0600, owner postgres: it holds passwords).

    `bootstrap_dcs` is the dynamic configuration pgstead wants
    (`pgstead.desired.ha.dynamic_configuration`), which seeds a new cluster; None on a member
    that never creates the cluster, only clones it.
    """
    ha = env.ha
    assert ha is not None
    pg = env.postgres
    ca = f"{PATRONI_DIR}/{CA_CERT}"
    cert = f"{PATRONI_DIR}/{MEMBER_CERT}"
    key = f"{PATRONI_DIR}/{MEMBER_KEY}"
    verify = {"sslmode": "verify-full", "sslrootcert": ca}
    config = {
        "scope": ha.scope or env.name,
        "namespace": PATRONI_NAMESPACE,
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
        **({} if bootstrap_dcs is None else {"bootstrap": {
            "dcs": bootstrap_dcs,
            "initdb": [{"encoding": "UTF8"}, {"locale": pg.locale},
                       *(["data-checksums"] if pg.data_checksums else [])],
        }}),
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
            **_replica_methods(env),
            "remove_data_directory_on_rewind_failure": True,
            # Patroni appends the action, the role and the scope. A new leader moves etcd's
            # leader off its host: both dying at once would cost an etcd election plus a
            # whole ttl before a replica takes over (see the program).
            "callbacks": {action: f"{ETCD_LEADERSHIP_PROGRAM} {PATRONI_CONFIG}"
                          for action in ("on_start", "on_role_change")},
        },
        # Containers have no watchdog device; "required" would stop every member.
        "watchdog": {"mode": "off"},
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False,
                 "nosync": False},
    }
    return "# Patroni member config: managed by pgstead; edits are overwritten.\n" + \
        yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


def _replica_methods(env: Environment) -> dict:
    """How a new replica gets its data, and where a replica finds WAL its leader dropped.

    With backups.method: pgbackrest every replica's restore_command reads the stanza's archive
    (a replica that fell behind, or was restored from an old backup, catches up from it).
    ha.replica_method: pgbackrest restores the newest backup from the repository first, and
    clones the leader with pg_basebackup when that fails (no stanza or backup yet, repository
    unreachable).
    """
    methods: dict = {"create_replica_methods": ["basebackup"],
                     "basebackup": [{"checkpoint": "fast"}]}
    if not uses_pgbackrest(env):
        return methods
    assert env.ha is not None
    if env.ha.replica_method == "pgbackrest":
        methods["create_replica_methods"] = ["pgbackrest", "basebackup"]
        # no_params: Patroni adds no --scope/--datadir/--connstring of its own; the program
        # reads the stanza's config. Patroni empties the data directory before calling it.
        methods["pgbackrest"] = {"command": replica_command(env), "no_params": True}
    methods["recovery_conf"] = {"restore_command": restore_command(env)}
    return methods
