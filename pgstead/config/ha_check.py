"""Checks of the `ha` section that need no inventory: install mode, Patroni's timing rule, the
etcd member list, and the server parameters Patroni decides in place of the file.

What needs the inventory's hosts (how many members, their names) is pgstead.config.members.
"""

from __future__ import annotations

from pgstead.config.findings import Findings
from pgstead.config.raw import section
from pgstead.postgres import catalog, units

# Patroni 3.0.2 passes these on the postgres command line with values of its own: a value in
# `settings` would never reach the server (postgresql/config.py, CMDLINE_OPTIONS). port and
# listen_addresses are refused in every mode (pgstead.config.settings_check).
_SET_BY_PATRONI = {
    "cluster_name": "Patroni sets it to ha.scope",
    "hot_standby": "Patroni keeps it on, so replicas answer reads",
    "wal_log_hints": "Patroni keeps it on, so pg_rewind can bring a failed leader back",
    "unix_socket_directories": "Patroni reaches its own server through the socket pgstead "
                               "configures",
}
_SYNCHRONOUS = "use ha.synchronous (Patroni names the synchronous standby itself)"
_RECOVERY = ("Patroni writes the recovery settings of each replica itself (it follows the "
             "current leader)")
# Patroni's recovery parameters (postgresql/validator.py, recovery_parameters): it drops them
# from the server parameters and manages them per member.
RECOVERY_PARAMETERS = frozenset({
    "archive_cleanup_command", "pause_at_recovery_target", "primary_conninfo",
    "primary_slot_name", "promote_trigger_file", "recovery_end_command",
    "recovery_min_apply_delay", "recovery_target", "recovery_target_action",
    "recovery_target_inclusive", "recovery_target_lsn", "recovery_target_name",
    "recovery_target_time", "recovery_target_timeline", "recovery_target_xid",
    "restore_command", "standby_mode", "trigger_file",
})
# Integer parameters Patroni passes on the command line only when the value is at least this
# (postgresql/config.py, CMDLINE_OPTIONS); below it Patroni silently uses its own default.
PATRONI_MINIMUMS = {
    "max_connections": 25,
    "max_wal_senders": 3,
    "max_replication_slots": 4,
    "max_worker_processes": 2,
    "max_locks_per_transaction": 32,
}
_WAL_KEEP_SIZE_MINIMUM_MB = 16
_REPLICA_WAL_LEVELS = ("replica", "logical", "hot_standby")
# synchronous_commit values that acknowledge a commit before a standby has it.
_LOCAL_COMMIT = ("off", "local")


def ha_enabled(document: object) -> bool:
    return isinstance(document, dict) and isinstance(document.get("ha"), dict)


def synchronous_mode(raw: object) -> str | None:
    """off | on | strict as the model reads ha.synchronous; None for a value of the wrong shape."""
    if isinstance(raw, bool):
        return "on" if raw else "off"
    return raw if raw in ("off", "on", "strict") else None


def check_ha(document: dict, findings: Findings) -> None:
    if not ha_enabled(document):
        return
    ha = section(document, "ha")
    if section(document, "postgres").get("install", "native") == "compose":
        findings.error(("ha",), "ha needs postgres.install: native (Patroni runs PostgreSQL on "
                       "each host); with install: compose remove the ha section")
    _check_timing(ha, findings)
    _check_dcs_hosts(ha, findings)
    _check_settings(document, findings)
    _check_replica_method(document, findings)
    if "cluster" in section(document, "postgres"):
        findings.warning(("postgres", "cluster"), "postgres.cluster is not used with ha: the "
                         "cluster is named by ha.scope (default: the environment name)")


def _check_timing(ha: dict, findings: Findings) -> None:
    values = {key: ha.get(key, default) for key, default in
              (("ttl", 10), ("loop_wait", 2), ("retry_timeout", 4))}
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values.values()):
        return  # the schema reported the wrong type
    ttl, loop_wait, retry = values["ttl"], values["loop_wait"], values["retry_timeout"]
    if loop_wait + 2 * retry > ttl:
        findings.error(("ha", "ttl"), f"loop_wait ({loop_wait}) + 2 * retry_timeout ({retry}) "
                       f"= {loop_wait + 2 * retry} is more than ttl ({ttl}): the leader lock "
                       "could expire while a healthy leader is still retrying, and a second "
                       "leader be elected; raise ttl or lower loop_wait/retry_timeout")


def _check_replica_method(document: dict, findings: Findings) -> None:
    if section(document, "ha").get("replica_method") != "pgbackrest":
        return
    backups = document.get("backups")
    # A backups section is enabled unless it says enabled: false.
    if not isinstance(backups, dict) or backups.get("method") != "pgbackrest" \
            or backups.get("enabled") is False:
        findings.error(("ha", "replica_method"), "replica_method: pgbackrest restores new "
                       "replicas from the pgBackRest repository: it needs backups with "
                       "enabled: true and method: pgbackrest (or use replica_method: "
                       "basebackup)")


def _check_dcs_hosts(ha: dict, findings: Findings) -> None:
    hosts = section(ha, "dcs").get("hosts")
    if not isinstance(hosts, list):
        return  # `all` (checked against the inventory) or a shape the schema reported
    at = ("ha", "dcs", "hosts")
    seen: set[str] = set()
    for index, name in enumerate(hosts):
        if isinstance(name, str) and name in seen:
            findings.error((*at, index), f"{name} is listed twice: each host runs one etcd "
                           "member")
        seen.add(name)
    problem = dcs_count_problem(len(seen))
    if problem:
        findings.error(at, f"{len(seen)} etcd members listed: {problem}")


def dcs_count_problem(count: int) -> str | None:
    """Why `count` etcd members cannot make a quorum that survives a failure, or None."""
    if count < 3:
        return ("etcd needs at least 3 members, so that one can fail while the other two "
                "keep a majority")
    if count % 2 == 0:
        return (f"etcd needs an odd count: {count} members survive no more failures than "
                f"{count - 1}, and a network split can leave no majority on either side")
    return None


def _check_settings(document: dict, findings: Findings) -> None:
    synchronous = synchronous_mode(section(document, "ha").get("synchronous", "on"))
    version = section(document, "postgres").get("version", 15)
    for name, value in section(document, "postgres", "settings").items():
        at = ("postgres", "settings", name)
        key = str(name).lower()
        reason = owned_reason(key, value, synchronous, version)
        if reason:
            findings.error(at, f"{name} is not set here with ha: {reason}")


def owned_reason(name: str, value: object, synchronous: str | None,
                 version: int = 15) -> str | None:
    """Why Patroni, not `settings`, decides parameter `name` (lower case) at `value`; or None."""
    if name in _SET_BY_PATRONI:
        return _SET_BY_PATRONI[name]
    if name in RECOVERY_PARAMETERS:
        return _RECOVERY
    if name == "synchronous_standby_names":
        return _SYNCHRONOUS
    text = units.to_postgres_text(value) if isinstance(value, (str, int, float, bool)) else None
    if text is None:
        return None  # the schema reported the wrong shape
    if name == "wal_level" and text.lower() not in _REPLICA_WAL_LEVELS:
        return f"replicas need wal_level replica or logical, not {text}"
    if name == "synchronous_commit" and synchronous in ("on", "strict") \
            and text.lower() in _LOCAL_COMMIT:
        return (f"with ha.synchronous: {synchronous} a commit waits for a standby; "
                f"synchronous_commit {text} would acknowledge commits a failover can lose "
                "(set ha.synchronous: off to accept that)")
    minimum = PATRONI_MINIMUMS.get(name)
    if minimum is not None:
        number = _number(version, name, value)
        if number is not None and number < minimum:
            return (f"Patroni ignores a value below {minimum} (and runs with its own "
                    f"default); set {minimum} or more")
    if name == "wal_keep_size":
        number = _number(version, name, value)  # in MB, the parameter's unit
        if number is not None and number < _WAL_KEEP_SIZE_MINIMUM_MB:
            return (f"Patroni ignores a value below {_WAL_KEEP_SIZE_MINIMUM_MB}MB (and runs "
                    "with its own default)")
    return None


def _number(version: int, name: str, value: object) -> float | None:
    """`value` in the parameter's own unit, or None when it does not parse (reported elsewhere)."""
    param = catalog.find(version, name) if version in catalog.SUPPORTED_MAJORS else None
    if param is None:
        return None
    try:
        return float(units.parse_for(param, value))
    except (units.SettingValueError, ValueError):
        return None
