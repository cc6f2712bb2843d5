"""What an HA cluster should hold, pure: where each parameter goes, etcd's members, the
synchronous mode, and the smallest change to Patroni's dynamic configuration.

Under Patroni, ALTER SYSTEM is per node and lost on failover, so every parameter pgstead wants
goes to one of two places:
- cluster-wide: Patroni's dynamic configuration (in etcd, `GET/PATCH /config`), the same on
  every member; everything the file declares and everything pgstead derives that does not
  depend on the host;
- per host: the member's own Patroni file (`postgresql.parameters`), for what is tuned from
  that host's memory and CPUs and the file leaves to tuning (PER_HOST).
Parameters Patroni passes on the postgres command line are read only from the dynamic
configuration, so they are cluster-wide even when tuning derives them from the host: then the
highest value among the members is taken (a replica must not have less of max_connections,
max_worker_processes, ... than its leader, or it refuses to start).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pgstead.config.ha_check import RECOVERY_PARAMETERS
from pgstead.config.members import PATRONI_DEFAULTS, Member
from pgstead.config.model import Ha
from pgstead.render.ha_layout import REPLICATION_USER, REWIND_USER

# Tuned from the host's memory and CPUs (pgstead.desired.tuning): each member keeps its own.
PER_HOST = frozenset({
    "shared_buffers", "effective_cache_size", "maintenance_work_mem", "work_mem",
    "wal_buffers", "max_parallel_workers_per_gather", "max_parallel_workers",
    "max_parallel_maintenance_workers",
})
# Patroni passes these on the command line and reads them only from the dynamic configuration
# (Patroni 3.0.2, postgresql/config.py CMDLINE_OPTIONS).
COMMAND_LINE = frozenset({
    "wal_level", "max_connections", "max_wal_senders", "wal_keep_segments", "wal_keep_size",
    "max_prepared_transactions", "max_locks_per_transaction", "track_commit_timestamp",
    "max_replication_slots", "max_worker_processes",
})
# Patroni sets these itself on every member; pgstead's own value (listen_addresses from the
# baseline, say) is dropped rather than sent.
SET_BY_PATRONI = frozenset({
    "listen_addresses", "port", "cluster_name", "hot_standby", "wal_log_hints",
    "unix_socket_directories", "synchronous_standby_names", "hba_file", "ident_file",
    "config_file", "data_directory",
}) | RECOVERY_PARAMETERS
# The part of the dynamic configuration pgstead owns whole: a key found there that pgstead no
# longer wants is removed. Elsewhere keys pgstead does not name are left as they are.
OWNED = (("postgresql", "parameters"),)
MAXIMUM_LAG_ON_FAILOVER = 1048576  # bytes; Patroni's default, said here so it is compared


class SettingsConflict(ValueError):
    """Members want different values of a parameter that must be the same on all of them."""


@dataclass(frozen=True)
class SplitSettings:
    cluster: dict[str, str]  # -> dynamic configuration, postgresql.parameters
    per_host: dict[str, dict[str, str]]  # member name -> its Patroni file's parameters


def split_settings(by_member: Mapping[str, Mapping[str, str]],
                   declared: Iterable[str]) -> SplitSettings:
    """Split each member's desired settings (pgstead.desired.settings, one host each) into
    cluster-wide and per-host parameters.

    `declared` are the parameter names the file sets in `settings`: the file's value is the
    same on every host, so it is cluster-wide even for a PER_HOST parameter. A parameter the
    members disagree on goes per host, unless Patroni reads it only cluster-wide (COMMAND_LINE):
    then the highest value wins; a non-numeric disagreement there raises SettingsConflict.
    """
    declared_names = {name.lower() for name in declared}
    names = list(dict.fromkeys(n for wanted in by_member.values() for n in wanted))
    cluster: dict[str, str] = {}
    per_host: dict[str, dict[str, str]] = {member: {} for member in by_member}
    for name in names:
        key = name.lower()
        if key in SET_BY_PATRONI:
            continue
        values = {m: wanted[name] for m, wanted in by_member.items() if name in wanted}
        if key in COMMAND_LINE:
            cluster[name] = _highest(name, values)
        elif key in PER_HOST and key not in declared_names:
            for member, value in values.items():
                per_host[member][name] = value
        elif len(set(values.values())) == 1 and len(values) == len(by_member):
            cluster[name] = next(iter(values.values()))
        else:
            for member, value in values.items():
                per_host[member][name] = value
    return SplitSettings(cluster, per_host)


def _highest(name: str, values: Mapping[str, str]) -> str:
    distinct = set(values.values())
    if len(distinct) == 1:
        return distinct.pop()
    try:
        return max(distinct, key=int)
    except ValueError:
        raise SettingsConflict(
            f"{name} must be the same on every member, and they want "
            + ", ".join(f"{m}: {v}" for m, v in sorted(values.items()))) from None


def dcs_members(ha: Ha, members: Sequence[Member]) -> tuple[Member, ...]:
    """The members that run etcd, in inventory order: every one unless ha.dcs names them."""
    if ha.dcs_hosts is None:
        return tuple(members)
    chosen = set(ha.dcs_hosts)
    return tuple(m for m in members if m.name in chosen)


def synchronous_flags(synchronous: str) -> dict[str, bool]:
    """ha.synchronous as Patroni's synchronous_mode and synchronous_mode_strict."""
    if synchronous not in ("off", "on", "strict"):
        raise ValueError(f"not a synchronous mode: {synchronous!r}")
    return {"synchronous_mode": synchronous != "off",
            "synchronous_mode_strict": synchronous == "strict"}


def dynamic_configuration(ha: Ha, parameters: Mapping[str, str]) -> dict:
    """The dynamic configuration pgstead wants: timings, modes, cluster-wide parameters.

    The same dict seeds `bootstrap.dcs` (read once, when the cluster is created) and is
    compared with `GET /config` afterwards (diff_dynamic_config).
    """
    return {
        "ttl": ha.ttl,
        "loop_wait": ha.loop_wait,
        "retry_timeout": ha.retry_timeout,
        "maximum_lag_on_failover": MAXIMUM_LAG_ON_FAILOVER,
        # The leader keeps running while etcd is unreachable, as long as every member answers.
        "failsafe_mode": True,
        **synchronous_flags(ha.synchronous),
        "postgresql": {
            "use_pg_rewind": True,
            "use_slots": True,
            "parameters": dict(parameters),
        },
    }


def diff_dynamic_config(live: Mapping, desired: Mapping,
                        owned: Sequence[tuple[str, ...]] = OWNED) -> dict:
    """The smallest `PATCH /config` body that makes `live` (`GET /config`) hold `desired`.

    Patroni merges a PATCH into what it stores, key by key, and removes a key sent as null.
    A key of `desired` that differs is sent; a mapping is sent only with what differs in it;
    inside an `owned` mapping (postgresql.parameters) a key `live` has and `desired` lacks is
    sent as None (null), so a parameter removed from the file goes back to its default. Keys
    outside the owned mappings that pgstead does not name (slots, tags, a human's
    check_timeline) are left alone. Parameter names compare case-insensitively, as in
    Patroni; 10 and "10" are one value, and so are true and "on". An empty dict means
    nothing to change.
    """
    return _diff(live, desired, owned, ())


def _diff(live: Mapping, desired: Mapping, owned: Sequence[tuple[str, ...]],
          at: tuple[str, ...]) -> dict:
    is_owned = at in owned
    live_keys = {k.lower() if is_owned else k: k for k in live}
    patch: dict = {}
    for key, want in desired.items():
        live_key = live_keys.get(key.lower() if is_owned else key)
        have = live.get(live_key) if live_key is not None else None
        if isinstance(want, Mapping):
            inner = _diff(have if isinstance(have, Mapping) else {}, want, owned, (*at, key))
            if inner or live_key is None:
                patch[key] = inner if isinstance(have, Mapping) else dict(want)
        elif live_key is None or not _same(have, want):
            patch[key] = want
    if is_owned:
        wanted = {k.lower() for k in desired}
        for key in live:
            if key.lower() not in wanted and live[key] is not None:
                patch[key] = None
    return patch


def _same(have: object, want: object) -> bool:
    if isinstance(want, bool) or isinstance(have, bool):
        return _boolean(have) is not None and _boolean(have) is _boolean(want)
    return have == want or str(have) == str(want)  # 10 and "10" are one value to PostgreSQL


def _boolean(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text in ("on", "true", "yes") else False if text in ("off", "false", "no") \
        else None


def service_user_limits(cluster: Mapping[str, str]) -> dict[str, int]:
    """Connection limits of the users Patroni creates (the hardening baseline wants one on every
    login role): both get what the server allows of replication connections anyway
    (max_wal_senders, which validation keeps above one per replica plus a clone). The rewind
    user needs at most one per member; tying its limit to the member count would change a role
    on every member added or removed, so it follows the same bound."""
    senders = int(cluster.get("max_wal_senders", PATRONI_DEFAULTS["max_wal_senders"]))
    return {REPLICATION_USER: senders, REWIND_USER: senders}
