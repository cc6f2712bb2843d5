"""Semantic checks of hba rules: addresses, methods per connection type, declared names."""

from __future__ import annotations

import ipaddress

from pgstead.config.findings import Findings
from pgstead.config.raw import by_name, entries, is_present, section, text, tls_required

_ADDRESS_WORDS = {"all", "samehost", "samenet"}
_DATABASE_WORDS = {"all", "sameuser", "samerole", "replication", "postgres"}
_USER_WORDS = {"all", "postgres"}
_TCP_WITHOUT_TLS = {"host", "hostnossl"}


def check_hba(document: dict, findings: Findings) -> None:
    databases = set(by_name(document, "databases"))
    users = by_name(document, "users")
    allow_trust = section(document, "security").get("allow_trust") is True
    require_tls = tls_required(document)
    tls_on = section(document, "tls").get("enabled", True) is not False
    for index, rule in entries(document, "hba"):
        at = ("hba", index)
        kind, method = text(rule, "type"), text(rule, "method")
        _check_address(rule, kind, findings, at)
        if method == "trust" and not allow_trust:
            findings.error((*at, "method"), "trust lets anyone matching log in without a password; "
                           "set security.allow_trust: true to permit it")
        if method == "peer" and kind not in (None, "local"):
            findings.error((*at, "method"), "peer works only on local (Unix socket) rules")
        if method == "cert" and kind not in (None, "hostssl"):
            findings.error((*at, "method"), "cert works only on hostssl rules")
        if kind == "hostssl" and not tls_on:
            findings.error((*at, "type"), "hostssl needs TLS, but tls.enabled is false")
        if kind in _TCP_WITHOUT_TLS and require_tls and method != "reject":
            findings.error((*at, "type"), f"{kind} admits TCP connections without TLS while "
                           "tls.require is true; use hostssl (or set tls.require: false)")
        _check_names(rule, "database", databases, _DATABASE_WORDS, findings, at)
        _check_users(rule, users, findings, at)


def _check_address(rule: dict, kind: str | None, findings: Findings, at: tuple) -> None:
    address = rule.get("address")
    if kind == "local":
        if address is not None:
            findings.error((*at, "address"),
                           "local rules match the Unix socket and take no address")
        return
    if address is None:
        if kind is not None:
            findings.error(at, f"missing required key 'address' ({kind} rules need one, "
                           "e.g. 10.0.0.0/8 or samenet)")
        return
    if not isinstance(address, str) or address in _ADDRESS_WORDS:
        return
    problem = address_problem(address)
    if problem:
        findings.error((*at, "address"), problem)


def address_problem(address: str) -> str | None:
    if "/" not in address:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return (f"expected an address range in CIDR notation (10.0.0.0/8) or all, samehost, "
                    f"samenet; got {address!r}")
        return f"an address needs a prefix length: write {ip}/{ip.max_prefixlen} for one host"
    try:
        ipaddress.ip_network(address, strict=True)
    except ValueError as exc:
        try:
            network = ipaddress.ip_network(address, strict=False)
        except ValueError:
            return (f"expected an address range in CIDR notation (10.0.0.0/8); "
                    f"got {address!r}: {exc}")
        return f"{address!r} has host bits set; did you mean {network}?"
    return None


def _check_names(rule: dict, key: str, declared: set[str], words: set[str],
                 findings: Findings, at: tuple) -> None:
    name = text(rule, key)
    if name is None or _is_list(name, key, findings, at):
        return
    if name not in declared and name not in words:
        findings.error((*at, key), f"{key} {name!r} is not declared in databases "
                       f"(or use one of {', '.join(sorted(words))})")


def _check_users(rule: dict, users: dict[str, dict], findings: Findings, at: tuple) -> None:
    name = text(rule, "user")
    if name is None or name in _USER_WORDS or _is_list(name, "user", findings, at):
        return
    user = users.get(name)
    if user is None:
        findings.error((*at, "user"), f"user {name!r} is not declared in users "
                       "(or use all or postgres)")
    elif not is_present(user):
        findings.error((*at, "user"), f"user {name!r} is declared with state: absent")


def _is_list(value: str, key: str, findings: Findings, at: tuple) -> bool:
    """One name per rule keeps rendering unambiguous; lists are written as several rules."""
    if "," not in value:
        return False
    findings.error((*at, key), f"one {key} per rule: write a rule for each of {value!r}")
    return True
