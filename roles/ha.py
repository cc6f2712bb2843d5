"""High availability: etcd as the consensus store, then Patroni running PostgreSQL.

Two deploys, placed by deploy.py around the TLS role: `consensus` (host programs, member
certificates, etcd) before it, `patroni` (its config and daemon) after it, since PostgreSQL's
first start under Patroni already reads the TLS files. Both do nothing unless the `Server`
says Patroni runs it.
"""

from __future__ import annotations

import hashlib

from pyinfra import host, inventory
from pyinfra.api import deploy

from pgstead import PROJECT_ROOT
from pgstead.config.members import Member, inventory_hosts, present
from pgstead.config.model import Environment, HbaRule
from pgstead.config.secrets import resolve_password
from pgstead.desired.ha import dcs_members, dynamic_configuration, split_settings
from pgstead.desired.hardening import superuser_tcp_rejects
from pgstead.desired.settings import desired_settings
from pgstead.facts.cluster import Resources
from pgstead.facts.ha import PatroniState
from pgstead.facts.paths import PathStates
from pgstead.live.host import HostResources
from pgstead.operations import daemon as daemon_ops
from pgstead.operations import ha as ha_ops
from pgstead.operations import members as member_ops
from pgstead.operations.files import Directory, File, managed_files
from pgstead.operations.members import etcdctl
from pgstead.pki import ensure_ca, ensure_server_cert
from pgstead.pki.locations import pki_dir
from pgstead.pki.sans import LOCALHOST_SANS
from pgstead.render.daemon import PATRONI, STORE, DaemonSpec, unit_name
from pgstead.render.etcd import client_url, render_etcd_config
from pgstead.render.ha_layout import (
    API_USER,
    CA_CERT,
    ETCD_CONFIG,
    ETCD_DATA,
    ETCD_DIR,
    ETCD_LEADERSHIP_PROGRAM,
    HOST_PROGRAM,
    MEMBER_CERT,
    MEMBER_KEY,
    PATRONI_CONFIG,
    PATRONI_DIR,
    REPLICATION_USER,
    REWIND_USER,
    data_directory,
    members_prefix,
)
from pgstead.render.patroni import PatroniSecrets, render_patroni_config
from pgstead.render.pg_hba import render_pg_hba
from pgstead.server.patroni import PatroniNode
from pgstead.server.psql import Server
from pgstead.server.select import server_for

HOST_FILES = PROJECT_ROOT / "pgstead" / "data" / "host"
# Patroni stops PostgreSQL (a shutdown checkpoint) before it exits: a stop waits this long.
PATRONI_STOP_SECONDS = 600


def members() -> list[Member]:
    """Every host of the inventory not marked `state: absent`, in inventory order: the
    cluster's members."""
    return [h.member for h in present(inventory_hosts(list(inventory)))]


def departing() -> list[Member]:
    """The hosts marked `state: absent`: members being removed (roles/members.py)."""
    return [h.member for h in inventory_hosts(list(inventory)) if h.absent]


def creates_the_cluster(me: Member) -> bool:
    """Whether this member's Patroni file holds the `bootstrap` section: the first member, the
    only one that creates a new cluster (the others wait for it and clone)."""
    return me == members()[0]


# Whether this apply creates the cluster, read once per run (a deploy process): every member's
# plan asks it, and the answer reads every member.
_new: dict[str, bool] = {}


def _new_cluster(env: Environment, scope: str) -> bool:
    """No member's Patroni answers and none holds a data directory: this apply creates the
    cluster. False when a member is out of reach, since its state is then unknown."""
    if scope not in _new:
        reached = {h.name for h in host.state.active_hosts}
        marker = f"{data_directory(env.postgres.version, scope)}/PG_VERSION"

        def untouched(m: Member) -> bool:
            h = inventory.get_host(m.name)
            return (h.get_fact(PatroniState, node=PatroniNode(scope, m)) is None
                    and h.get_fact(PathStates, paths=(marker,))[0].kind == "missing")

        _new[scope] = all(m.name in reached and untouched(m) for m in members())
    return _new[scope]


def leads_after_apply(env: Environment, server: Server) -> bool | None:
    """Whether this member leads once this apply's Patroni role ran: Patroni's own answer
    when it runs; on a cluster this apply creates, whether this member creates it; None when
    no plan can know (Patroni stopped on a member with data: Patroni elects the leader)."""
    node = server.patroni
    assert node is not None
    view = host.get_fact(PatroniState, node=node)
    if view is not None:
        return view.leads
    if _new_cluster(env, node.scope):
        return creates_the_cluster(node.member)
    return None


def etcd_members(env: Environment) -> list[Member]:
    """The members that run etcd and stay."""
    assert env.ha is not None
    return list(dcs_members(env.ha, members()))


def etcd_formation(env: Environment) -> list[Member]:
    """The etcd members the cluster was formed with, departing ones included: etcd reads
    `initial-cluster` only when it creates its data directory, so a member's removal must not
    change (and so restart) the etcd of every member that stays."""
    assert env.ha is not None
    return list(dcs_members(env.ha, [h.member for h in inventory_hosts(list(inventory))]))


# Each member's desired settings depend on its own memory and CPUs; they are read once per
# run (a deploy process), for the split that every member must agree on.
_resources: dict[str, HostResources] = {}


def split_for(env: Environment, server: Server) -> tuple[dict[str, str], dict[str, str]]:
    """(cluster-wide, this member's own) parameters, split over every member's desired
    settings (pgstead.desired.ha.split_settings)."""
    by_member = {}
    staying = {m.name for m in members()}
    for h in inventory:
        if h.name not in staying:
            continue
        if h.name not in _resources:
            _resources[h.name] = h.get_fact(Resources)
        by_member[h.name] = desired_settings(env, _resources[h.name], server.config_dir)
    split = split_settings(by_member, declared=env.postgres.settings)
    return split.cluster, split.per_host.get(host.name, {})


def _member_certificate(env: Environment, me: Member) -> tuple[bytes, bytes, bytes]:
    t = env.tls
    pki = pki_dir(env)
    ca_cert, ca_key = ensure_ca(pki, env.name, byo=(t.ca.cert, t.ca.key) if t.ca else None)
    sans = list(dict.fromkeys([me.name, me.address, *LOCALHOST_SANS]))
    cert, key, _ = ensure_server_cert(pki, me.name, ca_cert, ca_key, sans=sans, days=t.days,
                                      renew_before_days=t.renew_before_days, member=True)
    return ca_cert, cert, key


def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
    return h.hexdigest()


def _tls_entries(directory: str, owner: str, ca: bytes, cert: bytes, key: bytes) -> list:
    return [
        File(f"{directory}/{CA_CERT}", ca, owner, owner, "644"),
        File(f"{directory}/{MEMBER_CERT}", cert, owner, owner, "644"),
        File(f"{directory}/{MEMBER_KEY}", key, owner, owner, "600"),
    ]


def etcd_spec(config_digest: str) -> DaemonSpec:
    # etcd re-reads nothing on a signal: a changed config or certificate restarts it.
    return DaemonSpec(name="etcd", argv=("/usr/bin/etcd", "--config-file", ETCD_CONFIG),
                      user="etcd", description="etcd member for pgstead's Patroni cluster",
                      config_digest=config_digest, reload_signal=None, notify=True,
                      stop_order=STORE, stop_seconds=30)


def patroni_spec(config_digest: str) -> DaemonSpec:
    # Only Patroni is signalled to stop: it stops PostgreSQL itself, and a Patroni that dies
    # leaves PostgreSQL running for the restarted one to take over.
    return DaemonSpec(name="patroni", argv=("/usr/bin/patroni", PATRONI_CONFIG),
                      user="postgres", description="Patroni for pgstead",
                      config_digest=config_digest, reload_signal="HUP", stop_order=PATRONI,
                      stop_seconds=PATRONI_STOP_SECONDS, stop_main_only=True,
                      after=(unit_name("etcd"),))


@deploy("Consensus store (etcd)")
def consensus(env: Environment) -> None:
    server = server_for(env)
    if server.managed_by != "patroni":
        return
    me = server.patroni.member
    ca, cert, key = _member_certificate(env, me)
    managed_files(name="pgstead's Patroni client and Patroni's directory", entries=[
        File(HOST_PROGRAM, HOST_FILES / "pgstead-patroni", mode="755"),
        File(ETCD_LEADERSHIP_PROGRAM, HOST_FILES / "pgstead-etcd-leadership", mode="755"),
        # Patroni's directory now: the TLS role puts PostgreSQL's files there.
        Directory(PATRONI_DIR, "postgres", "postgres", "700"),
        *_tls_entries(PATRONI_DIR, "postgres", ca, cert, key),
    ])
    ha_ops.package_scripts_disabled(name="The packages' etcd and patroni do not start at boot",
                                    disabled=["etcd", "patroni"])
    etcd = etcd_members(env)
    if me in etcd:
        ha_ops.package_etcd_removed(name="Debian's throw-away etcd member removed")
        config = render_etcd_config(me, etcd_formation(env), server.patroni.scope)
        managed_files(name=f"etcd member {me.name}: config and certificates", entries=[
            Directory(ETCD_DIR, "etcd", "etcd", "700"),
            *_tls_entries(ETCD_DIR, "etcd", ca, cert, key),
            File(ETCD_CONFIG, config, "etcd", "etcd", "600"),
            Directory(ETCD_DATA.rsplit("/", 1)[0], "etcd", "etcd", "700"),
        ])
        daemon_ops.supervised(name=f"etcd member {me.name} runs", spec=etcd_spec(
            _digest(config, ca, cert, key)))
    ha_ops.etcd_healthy(name="etcd answers with a quorum", cert_dir=PATRONI_DIR,
                        endpoints=[client_url(m) for m in etcd])
    gone = departing()
    if gone and me == members()[0]:
        # Once, from the first member that stays, after the departing hosts stopped
        # (roles/members.py runs before every other role).
        unreached = [m.name for m in gone if m.name not in
                     {h.name for h in host.state.active_hosts}]
        member_ops.members_forgotten(
            name=f"etcd forgets {', '.join(m.name for m in gone)}",
            departing=[m.name for m in gone], keys_of=unreached,
            etcdctl_base=etcdctl(PATRONI_DIR, [client_url(m) for m in etcd]),
            members_prefix=members_prefix(server.patroni.scope))


def _secret(env: Environment, user: str) -> str:
    return resolve_password({"generate": True}, user=user, base_dir=env.source.parent,
                            state_dir=env.state_dir).reveal()


def member_hba(env: Environment) -> list[str]:
    """pg_hba lines for Patroni: replication and rewind from every member, over TLS, before any
    replica clones; then the file's own rules as on a single server."""
    rules = [
        HbaRule("hostssl", database, user, "scram-sha-256", f"{m.address}/32")
        for m in members()
        for database, user in (("replication", REPLICATION_USER), ("postgres", REWIND_USER))
    ]
    # A replica's Patroni reads its own timeline over a replication connection to localhost,
    # on every REST API call (each HAProxy check): refused, it logged a traceback each time.
    rules.append(HbaRule("hostssl", "replication", REPLICATION_USER, "scram-sha-256",
                         "127.0.0.1/32"))
    text = render_pg_hba((*superuser_tcp_rejects(env), *rules, *env.hba), env.users,
                         allow_trust=env.security.allow_trust, source=env.source.name)
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def render_member_config(env: Environment, server: Server) -> str:
    cluster, local = split_for(env, server)
    secrets = PatroniSecrets(replication=_secret(env, REPLICATION_USER),
                             rewind=_secret(env, REWIND_USER), api=_secret(env, API_USER))
    me = server.patroni.member
    bootstrap = dynamic_configuration(env.ha, cluster) if creates_the_cluster(me) else None
    return render_patroni_config(env, me, etcd_members(env), local, bootstrap,
                                 member_hba(env), secrets)


def patroni_daemon(env: Environment, server: Server) -> DaemonSpec:
    """Patroni as supervised on this member, with the digest of the config it runs with."""
    return patroni_spec(_digest(render_member_config(env, server)))


@deploy("Patroni")
def patroni(env: Environment) -> None:
    server = server_for(env)
    if server.managed_by != "patroni":
        return
    config = render_member_config(env, server)
    managed_files(name=f"Patroni config of {server.patroni.member.name}", entries=[
        File(PATRONI_CONFIG, config, "postgres", "postgres", "600"),
    ])
    # A changed file is re-read on SIGHUP: Patroni applies what changed, restarting nothing
    # itself (restart-class parameters wait for the settings role's rolling restart).
    daemon_ops.supervised(name=f"Patroni member {server.patroni.member.name} runs",
                          spec=patroni_spec(_digest(config)))
    ha_ops.member_running(name="Patroni runs PostgreSQL with a leader", node=server.patroni)
