"""etcd's configuration file for one member: peer and client traffic over TLS, both ways
authenticated by certificates from the environment's CA."""

from __future__ import annotations

from collections.abc import Sequence

import yaml

from pgstead.config.members import Member
from pgstead.render.ha_layout import (
    CA_CERT,
    ETCD_CLIENT_PORT,
    ETCD_DATA,
    ETCD_DIR,
    ETCD_PEER_PORT,
    MEMBER_CERT,
    MEMBER_KEY,
)


def peer_url(member: Member) -> str:
    return f"https://{member.address}:{ETCD_PEER_PORT}"


def client_url(member: Member) -> str:
    return f"https://{member.address}:{ETCD_CLIENT_PORT}"


def render_etcd_config(me: Member, members: Sequence[Member], scope: str) -> str:
    """The YAML given to `etcd --config-file`. `members` are the declared etcd members."""
    tls = {
        "cert-file": f"{ETCD_DIR}/{MEMBER_CERT}",
        "key-file": f"{ETCD_DIR}/{MEMBER_KEY}",
        "trusted-ca-file": f"{ETCD_DIR}/{CA_CERT}",
        # Only holders of a certificate from this CA may talk to etcd at all.
        "client-cert-auth": True,
    }
    config = {
        "name": me.name,
        "data-dir": ETCD_DATA,
        "listen-peer-urls": peer_url(me),
        "listen-client-urls": f"{client_url(me)},https://127.0.0.1:{ETCD_CLIENT_PORT}",
        "initial-advertise-peer-urls": peer_url(me),
        "advertise-client-urls": client_url(me),
        # Read only when the data directory is created: the first formation.
        "initial-cluster": ",".join(f"{m.name}={peer_url(m)}" for m in members),
        "initial-cluster-state": "new",
        "initial-cluster-token": f"pgstead-{scope}",
        # Patroni speaks to etcd through its JSON gateway, off by default in a config file.
        "enable-grpc-gateway": True,
        "client-transport-security": tls,
        "peer-transport-security": tls,
        "logger": "zap",
        "log-outputs": ["stderr"],
    }
    return "# etcd member config: managed by pgstead; edits are overwritten.\n" + yaml.safe_dump(
        config, sort_keys=False)
