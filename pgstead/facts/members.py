"""Facts for removing a member: what pgstead-supervise still keeps or would bring back at boot,
and what etcd still knows of a member (its etcd membership, its Patroni member key)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pyinfra.api import FactBase, QuoteString, StringCommand

from pgstead.render.ha_layout import SUPERVISOR, SUPERVISOR_RECORDS


@dataclass(frozen=True)
class Kept:
    running: bool  # pgstead-supervise runs it now
    recorded: bool  # a boot would start it again


class KeptDaemon(FactBase):
    """Whether pgstead-supervise runs `daemon`, and whether its boot record is there."""

    def command(self, daemon: str) -> StringCommand:
        record = f"{SUPERVISOR_RECORDS}/{daemon}"
        return StringCommand(
            "if", "[", "-x", SUPERVISOR, "];", "then", SUPERVISOR, "status", QuoteString(daemon),
            ";", "else", "echo", "stopped;", "fi;",
            "if", "[", "-f", QuoteString(record), "];", "then", "echo", "recorded;",
            "else", "echo", "none;", "fi",
        )

    def process(self, output: list[str]) -> Kept:
        return Kept(output[0].startswith("running"), output[-1] == "recorded")


@dataclass(frozen=True)
class EtcdMember:
    id: str  # hexadecimal, as `etcdctl member remove` takes it
    name: str


@dataclass(frozen=True)
class DcsMembership:
    etcd: tuple[EtcdMember, ...]  # etcd's member list
    patroni: tuple[str, ...]  # the member names under the scope's members/ keys


class EtcdMembership(FactBase):
    """etcd's member list and the Patroni member keys of a scope, read with `etcdctl`
    (`base`: its endpoint and certificate arguments); None when etcd does not answer."""

    @staticmethod
    def default() -> None:
        return None

    def command(self, base: tuple[str, ...], members_prefix: str) -> StringCommand:
        etcdctl = [QuoteString(word) for word in base]
        return StringCommand(
            "{", *etcdctl, "member", "list", "-w", "json", "&&", "echo", "&&",
            *etcdctl, "get", "--prefix", "--keys-only", QuoteString(members_prefix), ";",
            "}", "2>/dev/null", "||", "echo", "null",
        )

    def process(self, output: list[str]) -> DcsMembership | None:
        listed = json.loads(output[0] or "null")
        if not listed:
            return None
        etcd = tuple(EtcdMember(format(int(m["ID"]), "x"), m.get("name", ""))
                     for m in listed.get("members", []))
        names = tuple(line.rstrip("/").rsplit("/", 1)[-1] for line in output[1:]
                      if line.strip())
        return DcsMembership(etcd, names)
