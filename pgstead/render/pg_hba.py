"""pg_hba.conf, rendered whole from the environment file.

Layout, first match wins:
1. `local all postgres peer` and `local replication postgres peer`: pgstead itself, backups
   and the operator reach the server as the postgres OS user over the socket, whatever else
   the file says;
2. the file's rules, in order (a rule naming only `auth: cert` users gets method `cert`);
3. `local all all scram-sha-256`: applications on the same host may log in over the socket
   with their password. It comes last so that the file's own `local` rules win.
Anything else is rejected by PostgreSQL's implicit final deny.
"""

from __future__ import annotations

from collections.abc import Iterable

from pgstead.config.model import HbaRule, User

HEADER = ("# pg_hba.conf: managed by pgstead from {source}; edits are overwritten.\n"
          "# TYPE  DATABASE  USER  ADDRESS  METHOD\n")
BUILT_IN_FIRST = ("local all postgres peer", "local replication postgres peer")
BUILT_IN_LAST = ("local all all scram-sha-256",)

TYPES = {"local", "host", "hostssl", "hostnossl"}
# md5 and password send or store weak secrets; pgstead never writes them.
METHODS = {"scram-sha-256", "cert", "peer", "reject", "trust"}
DATABASE_KEYWORDS = {"all", "sameuser", "samerole", "replication"}
USER_KEYWORDS = {"all"}
ADDRESS_KEYWORDS = {"all", "samehost", "samenet"}


class HbaError(ValueError):
    """A rule pgstead will not write, whatever validation let through."""


def _names(field: str, keywords: set[str]) -> str:
    # Quoted names are taken literally by PostgreSQL: never a keyword, a +group or an @file.
    out = []
    for name in field.split(","):
        name = name.strip()
        if not name or '"' in name or any(c.isspace() for c in name):
            raise HbaError(f"unusable name {name!r} in pg_hba rule")
        out.append(name if name in keywords else f'"{name}"')
    return ",".join(out)


def _method(rule: HbaRule, users: dict[str, User], allow_trust: bool) -> str:
    if rule.method not in METHODS:
        raise HbaError(f"pg_hba method {rule.method!r} is not allowed "
                       f"(allowed: {', '.join(sorted(METHODS))})")
    if rule.method == "trust" and not allow_trust:
        raise HbaError("pg_hba method trust needs security.allow_trust: true")
    named = [users.get(n.strip()) for n in rule.user.split(",")]
    if (rule.type == "hostssl" and rule.method == "scram-sha-256" and named
            and all(u is not None and u.auth == "cert" for u in named)):
        return "cert"
    return rule.method


def render_rule(rule: HbaRule, users: dict[str, User], allow_trust: bool) -> str:
    if rule.type not in TYPES:
        raise HbaError(f"pg_hba connection type {rule.type!r} is not one of "
                       f"{', '.join(sorted(TYPES))}")
    fields = [rule.type, _names(rule.database, DATABASE_KEYWORDS), _names(rule.user, USER_KEYWORDS)]
    if rule.type == "local":
        if rule.address:
            raise HbaError("a local pg_hba rule takes no address")
    else:
        address = (rule.address or "").strip()
        if not address or any(c.isspace() or c in "\"#," for c in address):
            raise HbaError(f"pg_hba rule needs one address, got {rule.address!r}")
        fields.append(address)
    fields.append(_method(rule, users, allow_trust))
    return " ".join(fields)


def render_pg_hba(rules: Iterable[HbaRule], users: Iterable[User], *, allow_trust: bool = False,
                  source: str = "the environment file") -> str:
    """The whole pg_hba.conf text; raises HbaError for a rule it will not write."""
    by_name = {u.name: u for u in users if u.state == "present"}
    lines = [*BUILT_IN_FIRST, *(render_rule(r, by_name, allow_trust) for r in rules),
             *BUILT_IN_LAST]
    return HEADER.format(source=source) + "\n".join(lines) + "\n"
