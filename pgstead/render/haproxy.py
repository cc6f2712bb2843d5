"""HAProxy's configuration on a balancer: the leader port, the read port, and a statistics
page on localhost. Pure.

Each member is checked on its Patroni REST API over TLS, verified against the environment's
CA and the member's own name: the leader port sends connections to the one member whose
`GET /primary` answers 200; the read port to the members whose `GET /replica?lag=N` does
(running replicas replaying within N bytes of the leader), and to the leader only while no
replica does. The leader's place in the read port is a `backup` server that tracks the leader
port's check, so both ports follow one health check per member.

With a pooler (`pooler:` beside `ha:`), every member runs pgbouncer over its local socket, and
the leader and read ports send connections to the members' pgbouncer port instead of
PostgreSQL's; health still comes from Patroni. A third port, `direct_port`, reaches the
leader's PostgreSQL itself for what must bypass the pool.

Timing (measured in bench/endpoints; the reasons, since each is a trade):
- `inter 1s fastinter 250ms downinter 500ms fall 2 rise 1`: an UP member is checked every
  second, and once a check fails the next follows 250 ms later, so two failures mark it down
  within about 1.5 s of the first; a DOWN member is checked every 500 ms and one success
  brings it back, so a promoted leader joins the leader port within half a second.
- `timeout check 1s`: Patroni's REST API answers in milliseconds, except on a leader being
  demoted, where the answer waits for PostgreSQL's shutdown; a check waiting 3 s there kept a
  demoted leader in the leader port for two 3 s checks (a 8.4 s write gap in a switchover).
  One slow answer is not enough to leave the port (fall 2).
- `observe layer4 error-limit 1 on-error mark-down`: a real connection the member refuses
  (its PostgreSQL stopped for a switchover or a restart) marks it down at once, without
  waiting for the checks; `option redispatch 1` with `retries 2` sends that connection to
  another UP member instead of failing it. Only connection errors count, never SQL errors.
- `on-marked-down shutdown-sessions`: when a member leaves a port (a leader demoted, a replica
  fallen behind), HAProxy cuts the connections it holds to it at once, so no application keeps
  writing into a server that is no longer the leader. `on-marked-up shutdown-backup-sessions`
  on the read port: when a replica comes back, reads held on the leader (the fallback) are cut
  so that they return to the replicas.
- `balance first` on the leader port: at most one member answers `/primary`; if two briefly
  do (an old leader not yet marked down), every new connection goes to the same one.
- `option tcpka`: TCP keep-alives both ways, so a client or member that vanished without a
  FIN does not hold its connection slot until `timeout client`/`timeout server` (30 min).
- `nbthread 1`: one HAProxy thread moves a few thousand small PostgreSQL messages a second
  with less scheduling and locking than one thread per CPU on hosts whose CPUs PostgreSQL
  needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pgstead.config.model import HaEndpoints

CHECK = "inter 1s fastinter 250ms downinter 500ms fall 2 rise 1"
# On a checked server only: a `track` server (the read port's leader fallback) has none.
OBSERVE = "observe layer4 error-limit 1 on-error mark-down"


@dataclass(frozen=True)
class Backend:
    """A member as HAProxy sees it: its name (also its certificate's name) and addresses."""

    name: str
    address: str
    port: int  # PostgreSQL
    api_port: int  # Patroni's REST API
    pooler_port: int | None = None  # pgbouncer beside it, when the environment pools

    @property
    def serving_port(self) -> int:
        """Where the leader and read ports send connections: the member's pgbouncer when it
        runs one, else PostgreSQL."""
        return self.pooler_port or self.port


def render_haproxy_config(scope: str, endpoints: HaEndpoints, members: Sequence[Backend],
                          ca_file: str) -> str:
    tls = f"check-ssl verify required ca-file {ca_file}"

    def server(m: Backend) -> str:
        return (f"    server {m.name} {m.address}:{m.serving_port} check port {m.api_port} {tls} "
                f"check-sni {m.name} verifyhost {m.name} {OBSERVE}")

    lines = [
        f"# HAProxy for the Patroni cluster {scope}: managed by pgstead; edits are overwritten.",
        "global",
        "    maxconn 2000",
        "    nbthread 1",
        "    log stdout format raw local0 notice",
        # A reload waits this long for old connections before the old worker ends them.
        "    hard-stop-after 30m",
        "",
        "defaults",
        "    mode tcp",
        "    log global",
        "    retries 2",
        "    option redispatch 1",
        "    option tcpka",
        "    timeout connect 4s",
        "    timeout client 30m",
        "    timeout server 30m",
        "    timeout check 1s",
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
        "    balance first",
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
        f"    default-server {CHECK} on-marked-down shutdown-sessions "
        "on-marked-up shutdown-backup-sessions",
        *(server(m) for m in members),
        # The leader, only while no replica is up (HAProxy uses backups only then).
        *(f"    server {m.name}-leader {m.address}:{m.serving_port} backup "
          f"track leader/{m.name}" for m in members),
        "",
        *_direct(endpoints, members),
    ]
    return "\n".join(lines)


def _direct(endpoints: HaEndpoints, members: Sequence[Backend]) -> list[str]:
    """With pgbouncer on the members: a port to the leader's PostgreSQL itself, for what must
    bypass the pool (migrations' session advisory locks). It follows the leader port's checks
    (`track`), so it adds none of its own."""
    if not any(m.pooler_port for m in members):
        return []
    return [
        "listen leader_direct",
        f"    bind {endpoints.bind}:{endpoints.direct_port}",
        "    balance first",
        "    default-server on-marked-down shutdown-sessions",
        *(f"    server {m.name} {m.address}:{m.port} track leader/{m.name}" for m in members),
        "",
    ]
