"""The members of an HA cluster: the inventory's hosts, and the checks only they make possible.

The file never lists the members: they are the hosts of the inventory a deploy runs with (one
inventory group). Each becomes one Patroni member named by its inventory name, reached by its
peers on `ha_address` host data, else its ssh address, else its inventory name. A host whose
data says `state: absent` is a member being removed: the deploy stops it and takes it out of
Patroni and etcd, and every other member forgets it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pgstead.config.endpoints_check import check_balancers
from pgstead.config.findings import Findings
from pgstead.config.ha_check import dcs_count_problem, ha_enabled, synchronous_mode
from pgstead.config.raw import section, strings
from pgstead.postgres import units

# Connections a member needs on the leader beyond one per streaming replica: a new replica's
# pg_basebackup -X stream holds two WAL senders while it clones.
CLONE_WAL_SENDERS = 2
# Patroni's own default when the file sets neither (postgresql/config.py, CMDLINE_OPTIONS).
PATRONI_DEFAULTS = {"max_wal_senders": 10, "max_replication_slots": 10}
# The host data key that marks a member for removal, and its values.
STATE_KEY = "state"
PRESENT, ABSENT = "present", "absent"


@dataclass(frozen=True)
class Member:
    """One host of the cluster: its inventory name (Patroni's and etcd's member name) and the
    address its peers reach it on."""

    name: str
    address: str


@dataclass(frozen=True)
class InventoryHost:
    """A host as the inventory gives it: `listed` counts the entries that named it (pyinfra
    keeps only the last entry's data when a name is listed twice)."""

    name: str
    address: str
    listed: int = 1
    state: str = PRESENT  # the `state` host data, as given (checked by check_members)

    @property
    def member(self) -> Member:
        return Member(self.name, self.address)

    @property
    def absent(self) -> bool:
        return self.state == ABSENT


def member_address(data: object, name: str) -> str:
    """The address peers reach a member on: `ha_address` host data, else `ssh_hostname`, else
    the inventory name. `data` is pyinfra's host data (anything with .get)."""
    get = data.get  # type: ignore[attr-defined]
    return str(get("ha_address") or get("ssh_hostname") or name)


def member_state(data: object) -> str:
    """`state` host data: `present` (the default) or `absent` (a member being removed)."""
    return str(data.get(STATE_KEY) or PRESENT)  # type: ignore[attr-defined]


def present(hosts: Sequence[InventoryHost]) -> list[InventoryHost]:
    """The hosts that are (or become) members: every one not marked `state: absent`."""
    return [h for h in hosts if not h.absent]


def inventory_hosts(hosts: Sequence[object]) -> tuple[InventoryHost, ...]:
    """InventoryHost for each pyinfra host (name, data, groups), in inventory order."""
    found = []
    for h in hosts:
        # A name listed twice in a group shows as that group twice; connectors (@local,
        # @docker/...) add groups of their own that repeat, so those are left out.
        groups = [g for g in getattr(h, "groups", ()) if not str(g).startswith("@")]
        listed = max((groups.count(g) for g in groups), default=1)
        found.append(InventoryHost(h.name, member_address(h.data, h.name), listed,
                                   member_state(h.data)))
    return tuple(found)


def slot_name(member: str) -> str:
    """The replication slot Patroni keeps for `member` (its slot_name_from_member_name):
    different names can share one, and then the members fight over it."""
    def replace(match: re.Match[str]) -> str:
        c = match.group(0)
        return "_" if c in "-." else f"u{ord(c):04d}"
    return re.sub("[^a-z0-9_]", replace, member.lower())[:63]


def check_members(document: dict, findings: Findings, hosts: Sequence[InventoryHost]) -> None:
    """Errors, at the `ha` section's lines, for a cluster these hosts cannot make."""
    if not _check_states(document, findings, hosts):
        return
    _check_names(findings, hosts)
    _check_dcs(document, findings, hosts)
    staying = present(hosts)
    check_balancers(document, findings, staying)
    ha = section(document, "ha")
    if synchronous_mode(ha.get("synchronous", "on")) == "strict" and len(staying) < 2:
        findings.error(("ha", "synchronous"), f"synchronous: strict with {_count(staying)}: "
                       "strict mode stops every write while no standby is in sync, and one "
                       "host never has a standby; add hosts or use synchronous: on")
    _check_replication_capacity(document, findings, len(staying))


def _check_states(document: dict, findings: Findings, hosts: Sequence[InventoryHost]) -> bool:
    """`state` host data is present or absent, and absent only means something in a cluster.
    True when the member checks should go on (the file has an `ha` section)."""
    for h in hosts:
        if h.state not in (PRESENT, ABSENT):
            findings.error(("ha",) if ha_enabled(document) else (), f"host {h.name} has "
                           f"state: {h.state} in the inventory: expected present or absent")
    if ha_enabled(document):
        return True
    for h in hosts:
        if h.absent:
            findings.error((), f"host {h.name} is marked state: absent in the inventory, "
                           "which removes a member from an HA cluster, and this file has no "
                           "ha section: take the host out of the inventory instead")
    return False


def _count(hosts: Sequence[InventoryHost]) -> str:
    names = ", ".join(h.name for h in hosts) or "none"
    return f"{len(hosts)} host{'' if len(hosts) == 1 else 's'} in the inventory ({names})"


def _check_names(findings: Findings, hosts: Sequence[InventoryHost]) -> None:
    for h in hosts:
        if h.listed > 1:
            findings.error(("ha",), f"the inventory lists host {h.name} {h.listed} times: "
                           "pyinfra keeps only the last entry, and two Patroni members with "
                           "one name would take turns at one member record; give each host "
                           "its own name")
    by_slot: dict[str, str] = {}
    by_address: dict[str, str] = {}
    for h in hosts:
        other = by_slot.setdefault(slot_name(h.name), h.name)
        if other != h.name:
            findings.error(("ha",), f"hosts {other} and {h.name} are one member name to "
                           f"Patroni (replication slot {slot_name(h.name)}): rename one")
        other = by_address.setdefault(h.address.lower(), h.name)
        if other != h.name:
            findings.error(("ha",), f"hosts {other} and {h.name} both reach {h.address}: one "
                           "machine cannot be two members; set ha_address in the host data "
                           "or remove one")


def _check_dcs(document: dict, findings: Findings, hosts: Sequence[InventoryHost]) -> None:
    dcs = section(document, "ha", "dcs").get("hosts", "all")
    staying = present(hosts)
    leaving = [h.name for h in hosts if h.absent]
    if dcs == "all":
        problem = dcs_count_problem(len(staying))
        at = ("ha", "dcs", "hosts") if "hosts" in section(document, "ha", "dcs") else ("ha",)
        if problem and leaving:
            # Every host ran etcd: removing these leaves an etcd that must still keep an odd
            # quorum of three or more, checked here before any host is touched.
            findings.error(at, f"removing {', '.join(leaving)} (state: absent) also removes "
                           f"their etcd members (dcs.hosts: all), which leaves "
                           f"{len(staying)}: {problem}; nothing was changed. Remove members "
                           "so that an odd count of 3 or more stays, or add hosts first")
        elif problem:
            verb = "is" if len(hosts) == 1 else "are"
            findings.error(at, f"dcs.hosts: all makes every host an etcd member, and there "
                           f"{verb} {_count(hosts)}: {problem}; an HA cluster needs 3 hosts "
                           "or more (with 4 or 6, list an odd count in ha.dcs.hosts)")
        return
    known = {h.name for h in hosts}
    for index, name in strings(dcs):
        if name not in known:
            findings.error(("ha", "dcs", "hosts", index), f"{name} is not a host of the "
                           f"inventory ({', '.join(sorted(known)) or 'none'})")
        elif name in leaving:
            findings.error(("ha", "dcs", "hosts", index), f"{name} is marked state: absent in "
                           "the inventory and still listed as an etcd member: removing its "
                           "etcd member must leave an odd count of 3 or more in ha.dcs.hosts; "
                           "nothing was changed")


def _check_replication_capacity(document: dict, findings: Findings, members: int) -> None:
    """max_wal_senders and max_replication_slots must cover every replica (and one clone)."""
    needs = {"max_wal_senders": members - 1 + CLONE_WAL_SENDERS,
             "max_replication_slots": members - 1}
    settings = section(document, "postgres", "settings")
    for name, need in needs.items():
        declared = next((k for k in settings if str(k).lower() == name), None)
        raw = settings.get(declared, PATRONI_DEFAULTS[name])
        try:
            value = int(units.to_postgres_text(raw))
        except (ValueError, units.SettingValueError):
            continue  # reported by the settings check
        if value < need:
            at = ("postgres", "settings", declared) if declared else ("ha",)
            findings.error(at, f"{name} is {value}, and {members} members need {need} (one "
                           "per replica" + (", plus two for a replica being cloned)"
                                             if name == "max_wal_senders" else ")"))
