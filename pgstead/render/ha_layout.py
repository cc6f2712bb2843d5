"""Where the files of a Patroni + etcd member live and the ports its peers use: the layout the
renderers write into and the Patroni mode of the `Server` points at (as render/compose.py is
for compose)."""

from __future__ import annotations

PATRONI_CONFIG = "/etc/patroni/pgstead.yml"
PATRONI_NAMESPACE = "/pgstead/"
# PostgreSQL's TLS files and Patroni's member certificate (REST API, etcd client).
PATRONI_DIR = "/etc/patroni/pgstead"
ETCD_DIR = "/etc/pgstead/etcd"
ETCD_CONFIG = f"{ETCD_DIR}/etcd.yml"
ETCD_DATA = "/var/lib/etcd/pgstead"
# What Debian's etcd-server starts on install when nothing stops it: a one-member cluster.
ETCD_PACKAGE_DATA = "/var/lib/etcd/default"
HOST_PROGRAM = "/usr/local/sbin/pgstead-patroni"
# Patroni's callback keeping etcd's leader off the PostgreSQL leader's host.
ETCD_LEADERSHIP_PROGRAM = "/usr/local/sbin/pgstead-etcd-leadership"
# Cluster status and the planned switchover, on every member.
OPS_PROGRAM = "/usr/local/sbin/pgstead-ha-ops"
API_PORT = 8008
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
REPLICATION_USER = "replicator"
REWIND_USER = "rewinder"
API_USER = "patroni"
MEMBER_CERT = "member.crt"
MEMBER_KEY = "member.key"
CA_CERT = "ca.crt"


def members_prefix(scope: str) -> str:
    """The etcd key prefix under which each Patroni member of `scope` keeps its member key
    (Patroni's namespace, as render/patroni.py sets it)."""
    return f"{PATRONI_NAMESPACE}{scope}/members/"


def data_directory(version: int, scope: str) -> str:
    # Outside /etc/postgresql: pg_lsclusters and pg_ctlcluster never see (or start) it.
    return f"/var/lib/postgresql/{version}/{scope}"
