"""Removing a member: a host marked `state: absent` in the inventory data.

deploy.py runs this role, and only this one, on such a host, before every other role: its
daemons stop for good (keepalived and HAProxy first, so no client is sent to it, then Patroni,
which stops PostgreSQL and hands the leader lock over if it held it, then its member key is
deleted, then etcd). Its data directories stay on disk. The members that stay then forget it:
roles/ha.py removes its etcd membership (validation has already refused a removal that would
leave etcd without an odd quorum of three or more), and their Patroni files, pg_hba and HAProxy
backends are rendered without it (roles.ha.members).
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from pgstead.config.members import ABSENT, member_state
from pgstead.config.model import Environment
from pgstead.operations import daemon as daemon_ops
from pgstead.operations.members import etcdctl
from pgstead.render.etcd import client_url
from pgstead.render.ha_layout import PATRONI_DIR, members_prefix
from roles.endpoints import haproxy_spec, keepalived_spec
from roles.ha import etcd_members, etcd_spec, patroni_spec


def leaving() -> bool:
    """Whether this host is marked `state: absent`: a member being removed."""
    return member_state(host.data) == ABSENT


@deploy("Member removed")
def removed_member(env: Environment) -> None:
    assert env.ha is not None  # validation refuses state: absent without ha
    scope = env.ha.scope or env.name
    etcd = etcdctl(PATRONI_DIR, [client_url(m) for m in etcd_members(env)])
    for spec in (keepalived_spec(""), haproxy_spec("")):
        daemon_ops.unsupervised(name=f"{spec.name} stopped for good", spec=spec, files=[])
    daemon_ops.unsupervised(name="Patroni stopped for good (it stops PostgreSQL; the data "
                            "directory stays)", spec=patroni_spec(""), files=[],
                            then=(*etcd, "del", f"{members_prefix(scope)}{host.name}"))
    daemon_ops.unsupervised(name="etcd stopped for good (its data stays)", spec=etcd_spec(""),
                            files=[])
