"""Facts of a Patroni + etcd member: Patroni's view, etcd's package default."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pyinfra.api import FactBase, QuoteString, StringCommand

from pgstead.render.ha_layout import (
    ETCD_PACKAGE_DATA,
    HOST_PROGRAM,
)
from pgstead.server.patroni import PatroniNode


@dataclass(frozen=True)
class PatroniView:
    member: dict[str, Any]  # GET /patroni of this member
    members: list[dict[str, Any]]  # GET /cluster
    config: dict[str, Any]  # GET /config: the dynamic configuration

    @property
    def role(self) -> str:
        return str(self.member.get("role", ""))

    @property
    def leads(self) -> bool:
        # Patroni 3.0.2 still says "master"; later releases "primary".
        return self.role in ("master", "primary") and self.member.get("state") == "running"

    @property
    def leader(self) -> str | None:
        return next((m["name"] for m in self.members if m.get("role") in ("leader", "master")),
                    None)


class PatroniState(FactBase):
    """This member as its REST API shows it, or None when Patroni does not answer."""

    @staticmethod
    def default() -> None:
        return None

    def command(self, node: PatroniNode) -> StringCommand:
        return StringCommand(
            "if", "[", "-x", HOST_PROGRAM, "];", "then", *node.state_command, ";",
            "else", "echo", "null;", "fi",
        )

    def process(self, output: list[str]) -> PatroniView | None:
        data = json.loads("".join(output) or "null")
        if not data or not isinstance(data.get("member"), dict):
            return None
        return PatroniView(data["member"], (data.get("cluster") or {}).get("members", []),
                           data.get("config") or {})


@dataclass(frozen=True)
class PackageEtcd:
    present: bool  # the package's data directory exists
    running: bool  # an etcd runs without our config file (the one the package started)
    members: tuple[str, ...]  # its peer URLs, when it runs and answers
    keys: int  # keys it holds, when it runs and answers (-1: unknown)


# The package's etcd listens on http://localhost:2379 when it runs; ours never does (TLS).
_PACKAGE_ETCD = (
    f'if [ -d {ETCD_PACKAGE_DATA} ]; then echo present; else echo absent; fi; '
    'if pgrep -x etcd >/dev/null && ! pgrep -f "^/usr/bin/etcd --config-file" >/dev/null; then '
    'echo running; '
    'ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:2379 --dial-timeout=3s member list '
    '-w json 2>/dev/null || echo "{}"; echo; '
    'ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:2379 --dial-timeout=3s get "" '
    '--prefix --keys-only 2>/dev/null | grep -c . || true; '
    'else echo stopped; fi'
)


class PackageEtcdMember(FactBase):
    """The throw-away one-member etcd Debian's etcd-server starts on install."""

    def command(self) -> str:
        return _PACKAGE_ETCD

    def process(self, output: list[str]) -> PackageEtcd:
        present = output[0] == "present"
        if len(output) < 2 or output[1] != "running":
            return PackageEtcd(present, False, (), 0)
        try:
            listed = json.loads(output[2])
            urls = tuple(u for m in listed.get("members", []) for u in m.get("peerURLs", []))
            keys = int(output[-1])
        except (ValueError, IndexError):
            return PackageEtcd(present, True, (), -1)
        return PackageEtcd(present, True, urls, keys)


class EtcdQuorum(FactBase):
    """True when the etcdctl `probe` (a read answered only through a quorum) succeeds, tried
    again each second for up to `seconds`."""

    def command(self, probe: tuple[str, ...], seconds: int = 0) -> StringCommand:
        script = (f'end=$(($(date +%s) + {int(seconds)})); until "$@" >/dev/null 2>&1; do '
                  '[ "$(date +%s)" -ge "$end" ] && { echo no; exit 0; }; sleep 1; done; '
                  'echo yes')
        return StringCommand("sh", "-c", QuoteString(script), "pgstead-quorum",
                             *[QuoteString(p) for p in probe])

    def process(self, output: list[str]) -> bool:
        return output[-1] == "yes"


class LeaderWalReplayed(FactBase):
    """After waiting up to `seconds` for this replica to replay the WAL its leader had written
    when asked: "replayed", "leads" (this member is the leader), or why the wait stopped."""

    def command(self, node: PatroniNode, seconds: int) -> StringCommand:
        return StringCommand(HOST_PROGRAM, node.config, "wait-replayed", str(int(seconds)),
                             "2>&1", "&&", "echo", "replayed", "||", "true")

    def process(self, output: list[str]) -> str:
        if "leads" in output:
            return "leads"
        return output[-1] if output else "no answer"


def takes_writes(server) -> bool:
    """Whether this host's server takes writes now: always for a single server; under
    Patroni, the running leader only."""
    from pyinfra import host

    if server.patroni is None:
        return True
    view = host.get_fact(PatroniState, node=server.patroni)
    return view is not None and view.leads


def on_the_leader(server, known: bool) -> dict:
    """Operation arguments for a write that only the leader may make. A plain operation when
    the plan knows this host leads when it runs: a condition would turn its planned change into
    a conditional one, which the plan no longer names (should a failover still move the leader
    before it runs, the write fails on the now read-only server and the next apply converges).
    Otherwise (Patroni stopped where it has data, or a switchover planned in this apply) the
    operation checks `takes_writes` when it runs. Nothing for a single server."""
    if server.patroni is None or known:
        return {}
    return {"_if": lambda: takes_writes(server)}
