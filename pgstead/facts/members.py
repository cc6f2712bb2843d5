"""Facts for removing a member: what etcd still knows of it (its etcd membership, its Patroni
member key)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pyinfra.api import FactBase, QuoteString, StringCommand


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
