"""An HA cluster as its members report it over SSH (pgstead-ha-ops on each host): one row per
inventory host, and what is wrong with the cluster. Used by `pgstead cluster` and
`pgstead switchover`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from pgstead.cli.hosts import HostUnreachable, InventoryHosts
from pgstead.render.ha_layout import OPS_PROGRAM, PATRONI_CONFIG

LEADER_ROLES = ("leader", "master", "primary", "standby_leader")


@dataclass(frozen=True)
class MemberRow:
    host: str
    address: str
    role: str  # leader | replica | - (down)
    state: str  # Patroni's state, or why the member could not be read
    timeline: int | None
    lag_bytes: int | None
    lag_seconds: float | None
    pending_restart: bool
    sync: bool

    @property
    def up(self) -> bool:
        return self.state in ("running", "streaming")

    def as_dict(self) -> dict:
        return asdict(self)


def _status(hosts: InventoryHosts, name: str) -> tuple[dict | None, str]:
    """(the host's status JSON, why not) for one host."""
    try:
        out = hosts.run(name, f"{OPS_PROGRAM} {PATRONI_CONFIG} status")
    except HostUnreachable as error:
        return None, f"down (unreachable: {error})"
    if not out.ok:
        return None, "down (" + (" ".join(out.stderr_lines[-2:]) or "status failed") + ")"
    try:
        data = json.loads("".join(out.stdout_lines))
    except ValueError:
        return None, "down (unreadable status)"
    if not data.get("member"):
        return None, "down (Patroni does not answer)"
    return data, ""


def read_members(hosts: InventoryHosts, addresses: dict[str, str]) -> list[MemberRow]:
    statuses = {name: _status(hosts, name) for name in hosts.names}
    # The cluster as the members that answer list it; the leader's replication rows.
    listed: dict[str, dict] = {}
    replication: dict[str, dict] = {}
    for data, _ in statuses.values():
        if data:
            for m in (data.get("cluster") or {}).get("members", []):
                listed.setdefault(m["name"], m)
            replication.update(data.get("replication") or {})
    rows = []
    for name in hosts.names:
        data, why = statuses[name]
        me = (data or {}).get("member") or {}
        entry = listed.get(name, {})
        leads = entry.get("role") in LEADER_ROLES or me.get("role") in ("master", "primary")
        state = why or str(entry.get("state") or me.get("state") or "unknown")
        repl = replication.get(name, {})
        lag = entry.get("lag")
        rows.append(MemberRow(
            host=name,
            address=addresses.get(name, name),
            role="-" if why else ("leader" if leads else "replica"),
            state=state,
            timeline=entry.get("timeline") or me.get("timeline"),
            lag_bytes=None if leads or why else repl.get("lag_bytes",
                                                         lag if isinstance(lag, int) else None),
            lag_seconds=None if leads or why else repl.get("lag_seconds"),
            pending_restart=bool(entry.get("pending_restart") or me.get("pending_restart")),
            sync=entry.get("role") == "sync_standby" or repl.get("sync_state") == "sync",
        ))
    return rows


def problems(rows: list[MemberRow]) -> list[str]:
    """What makes the cluster unhealthy: no leader, two leaders, a member down."""
    out = []
    leaders = [r.host for r in rows if r.role == "leader"]
    if not leaders:
        out.append("the cluster has no leader")
    elif len(leaders) > 1:
        out.append(f"more than one member says it leads: {', '.join(leaders)}")
    out += [f"{r.host} is {r.state}" for r in rows if not r.up]
    return out


def warnings(rows: list[MemberRow], synchronous: str) -> list[str]:
    """What leaves the cluster running but weaker: in synchronous mode, a leader without a
    synchronous standby. Patroni then promotes nobody should the leader fail (no replica is
    known to hold every acknowledged commit), and with `strict` writes wait. It lasts from a
    member's rejoin until Patroni names it synchronous, a few loops later."""
    if synchronous == "off" or not any(r.role == "leader" for r in rows) \
            or any(r.sync for r in rows):
        return []
    effect = ("writes wait until a replica is synchronous again" if synchronous == "strict"
              else "should the leader fail now, Patroni promotes nobody until one is")
    return [f"no member is a synchronous standby (synchronous: {synchronous}): {effect}"]


def leader_host(hosts: InventoryHosts) -> str:
    """The inventory host that leads the cluster now, for commands that must act on it
    (backups are taken there, restores read its repository). Raises LookupError naming what
    the members said when none leads."""
    rows = read_members(hosts, {})
    leaders = [r.host for r in rows if r.role == "leader"]
    if len(leaders) != 1:
        raise LookupError("cannot find the cluster's leader: " + "; ".join(problems(rows)))
    return leaders[0]
