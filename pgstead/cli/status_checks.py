"""What counts as a problem on a host's status screen. Pure.

A problem makes `pgstead status` exit non-zero: the server or pooler unreachable, a backup
older than its schedule allows (or failed, or unverified), a certificate within its renewal
window, a replica lagging past monitoring.max_replica_lag_seconds, connections above
monitoring.connection_alarm_percent of max_connections or of a user's connection_limit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pgstead.cli.status_read import HostStatus
from pgstead.config.model import Environment

# Slack on top of the schedule's interval: a run takes time and cron may start it late.
_SLACK = timedelta(hours=2)


def backup_max_age(schedule: str) -> timedelta:
    """How old the last backup may be for a 5-field cron schedule: its interval plus slack
    (every hour, day, week or month, read from which fields are fixed)."""
    fields = schedule.split()
    if len(fields) != 5:
        return timedelta(days=1) + _SLACK
    _minute, hour, day_of_month, _month, day_of_week = fields
    if "*" in hour or "," in hour or "-" in hour:
        return timedelta(hours=1) + _SLACK
    if day_of_week != "*":
        return timedelta(days=7) + _SLACK
    if day_of_month != "*":
        return timedelta(days=31) + _SLACK
    return timedelta(days=1) + _SLACK


def _parse_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _percent(used: int, limit: int) -> float:
    return 100.0 * used / limit if limit > 0 else 0.0


def backup_problems(env: Environment, found: HostStatus, now: datetime) -> list[str]:
    if not env.backups.enabled or env.backups.method != "pg_dump":
        return []
    last = found.last_backup
    allowed = backup_max_age(env.backups.schedule)
    if last is None:
        return ["backup: none has run yet"]
    finished = _parse_time(last.get("finished") or last.get("started"))
    problems = []
    if last.get("status") != "ok":
        problems.append(f"backup: the last run {last.get('status')}"
                        + (f" ({last['error']})" if last.get("error") else ""))
    if finished is None or now - finished > allowed:
        age = "unknown" if finished is None else f"{(now - finished).total_seconds() / 3600:.1f} h"
        problems.append(f"backup: the last one is {age} old, more than the "
                        f"{allowed.total_seconds() / 3600:.0f} h schedule "
                        f"'{env.backups.schedule}' allows")
    if env.backups.verify:
        unverified = [d.get("db") for d in last.get("databases") or [] if not d.get("verified")]
        if unverified:
            problems.append(f"backup: not verified for {', '.join(map(str, unverified))}")
    return problems


def connection_problems(env: Environment, server: dict) -> list[str]:
    alarm = env.monitoring.connection_alarm_percent
    problems = []
    usable = int(server["max_connections"]) - int(server["reserved_connections"])
    used = int(server["connections"])
    if _percent(used, usable) > alarm:
        problems.append(f"connections: {used} of {usable} (max_connections less reserved), "
                        f"above {alarm} %")
    declared = {u.name for u in env.users if u.state == "present"}
    for user in server.get("users") or []:
        limit, count = int(user["limit"]), int(user["connections"])
        if user["name"] in declared and limit > 0 and _percent(count, limit) > alarm:
            problems.append(f"connections: user {user['name']} holds {count} of its "
                            f"connection_limit {limit}, above {alarm} %")
    return problems


def host_problems(env: Environment, found: HostStatus, now: datetime) -> list[str]:
    if found.error:
        return [found.error]
    if found.server is None:
        return ["server: not answering on its local socket"]
    problems = connection_problems(env, found.server)
    limit = env.monitoring.max_replica_lag_seconds
    for replica in found.server.get("replicas") or []:
        if float(replica.get("lag_seconds") or 0) > limit:
            problems.append(f"replication: replica {replica.get('name')} lags "
                            f"{float(replica['lag_seconds']):.0f} s, more than {limit} s")
    lag = found.server.get("replica_lag_seconds")
    if lag is not None and float(lag) > limit:
        problems.append(f"replication: this replica has replayed nothing for {float(lag):.0f} s,"
                        f" more than {limit} s")
    if env.pooler.enabled and found.pools is None:
        problems.append(f"pooler: no answer from pgbouncer on port {env.pooler.port} "
                        f"({found.pooler_error})")
    if env.tls.enabled:
        if found.cert_not_after is None:
            problems.append("certificate: the server's certificate cannot be read")
        else:
            days = (found.cert_not_after - now).days
            if days < env.tls.renew_before_days:
                problems.append(f"certificate: {days} days left, under renew_before_days "
                                f"{env.tls.renew_before_days}: apply to renew it")
    return problems + backup_problems(env, found, now)
