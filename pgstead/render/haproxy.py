"""HAProxy's configuration on a balancer: the leader port, the read port, and a statistics
page on localhost. Pure.

Each member is checked on its Patroni REST API over TLS, verified against the environment's
CA and the member's own name: the leader port sends connections to the one member whose
`GET /primary` answers 200; the read port to the members whose `GET /replica?lag=N` does
(running replicas replaying within N bytes of the leader), and to the leader only while no
replica does. The leader's place in the read port is a `backup` server that tracks the leader
port's check, so both ports follow one health check per member.

`on-marked-down shutdown-sessions`: when a member fails its check (a leader demoted, a
replica fallen behind), HAProxy cuts the connections it holds to it at once, so no
application keeps writing into a server that is no longer the leader.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pgstead.config.model import HaEndpoints

# Checks once a second, two failures mark a member down, one success brings it back: a
# demoted leader leaves the leader port within ~2 s, a promoted one joins within ~1 s.
CHECK = "inter 1s fall 2 rise 1"


@dataclass(frozen=True)
class Backend:
    """A member as HAProxy sees it: its name (also its certificate's name) and addresses."""

    name: str
    address: str
    port: int  # PostgreSQL
    api_port: int  # Patroni's REST API


def render_haproxy_config(scope: str, endpoints: HaEndpoints, members: Sequence[Backend],
                          ca_file: str) -> str:
    tls = f"check-ssl verify required ca-file {ca_file}"

    def server(m: Backend) -> str:
        return (f"    server {m.name} {m.address}:{m.port} check port {m.api_port} {tls} "
                f"check-sni {m.name} verifyhost {m.name}")

    lines = [
        f"# HAProxy for the Patroni cluster {scope}: managed by pgstead; edits are overwritten.",
        "global",
        "    maxconn 2000",
        "    log stdout format raw local0 notice",
        # A reload waits this long for old connections before the old worker ends them.
        "    hard-stop-after 30m",
        "",
        "defaults",
        "    mode tcp",
        "    log global",
        "    retries 2",
        "    timeout connect 4s",
        "    timeout client 30m",
        "    timeout server 30m",
        "    timeout check 3s",
        "",
        "listen stats",
        "    mode http",
        f"    bind 127.0.0.1:{endpoints.stats_port}",
        "    stats enable",
        "    stats uri /",
        "    stats refresh 5s",
        "",
        "listen leader",
        f"    bind {endpoints.bind}:{endpoints.leader_port}",
        "    option httpchk",
        "    http-check send meth GET uri /primary",
        "    http-check expect status 200",
        f"    default-server {CHECK} on-marked-down shutdown-sessions",
        *(server(m) for m in members),
        "",
        "listen read",
        f"    bind {endpoints.bind}:{endpoints.read_port}",
        "    balance roundrobin",
        "    option httpchk",
        f"    http-check send meth GET uri /replica?lag={endpoints.max_lag_bytes}",
        "    http-check expect status 200",
        f"    default-server {CHECK} on-marked-down shutdown-sessions",
        *(server(m) for m in members),
        # The leader, only while no replica is up (HAProxy uses backups only then).
        *(f"    server {m.name}-leader {m.address}:{m.port} backup track leader/{m.name}"
          for m in members),
        "",
    ]
    return "\n".join(lines)
