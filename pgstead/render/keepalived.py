"""keepalived's configuration for `ha.vip`: one VRRP instance per cluster whose address sits on
the member that leads. Pure.

Every member runs the instance as BACKUP with the same priority; a track script asks the
member's own Patroni REST API whether it is the running primary (`GET /primary`), and a
member whose script fails is in FAULT and cannot hold the address. So the address follows
the leader: it leaves a demoted leader within two failed checks, and a killed leader's
address goes with it; the new leader takes it once Patroni promotes it. VRRP goes unicast
to the other members (clouds and Docker networks drop multicast).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence


def virtual_router_id(scope: str) -> int:
    """1..255, the same on every member of one cluster; two clusters on one network should
    differ (VRRP keeps instances apart by this id)."""
    return zlib.crc32(scope.encode()) % 255 + 1


def render_keepalived_config(scope: str, me: str, my_address: str, peers: Sequence[str],
                             vip: str, interface: str, check: str) -> str:
    ident = "".join(c if c.isalnum() else "_" for c in scope)
    lines = [
        f"# keepalived for the Patroni cluster {scope}: managed by pgstead; edits are "
        "overwritten.",
        "global_defs {",
        f"    router_id {me}",
        "    script_user root",
        "    enable_script_security",
        "}",
        "",
        "vrrp_script pgstead_leader {",
        f'    script "{check}"',
        "    interval 1",
        "    timeout 3",
        "    fall 2",
        "    rise 1",
        "}",
        "",
        f"vrrp_instance pgstead_{ident} {{",
        "    state BACKUP",
        f"    interface {interface}",
        f"    virtual_router_id {virtual_router_id(scope)}",
        "    priority 100",
        "    advert_int 1",
        f"    unicast_src_ip {my_address}",
        "    unicast_peer {",
        *(f"        {p}" for p in peers),
        "    }",
        "    virtual_ipaddress {",
        f"        {vip} dev {interface}",
        "    }",
        "    track_script {",
        "        pgstead_leader",
        "    }",
        "}",
        "",
    ]
    return "\n".join(lines)
