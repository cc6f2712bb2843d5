"""`pgstead status FILE.yml`: one screen per host, read live.

Role and uptime, connections against max_connections and each user's limit, the pooler's
pools and waiting clients, replication lag, the last backup and whether it verified,
certificate days left, settings waiting for a restart, the largest databases and tables, the
longest-running transaction and the top statements. Exit 1 naming each problem
(pgstead.cli.status_checks), 0 when there is none, 2 for a bad file.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

import click

from pgstead.cli.backup_report import human_size
from pgstead.cli.failures import EXIT_FAILURE
from pgstead.cli.hosts import default_inventory, inventory_hosts
from pgstead.cli.status_checks import host_problems
from pgstead.cli.status_read import HostStatus, now, read_status
from pgstead.config.load import load_environment
from pgstead.config.model import Environment


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def _connections(env: Environment, server: dict[str, Any]) -> list[str]:
    usable = server["max_connections"] - server["reserved_connections"]
    lines = [f"  connections   {server['connections']} of {usable} "
             f"(max_connections {server['max_connections']}, "
             f"{server['reserved_connections']} reserved)"]
    declared = {u.name for u in env.users if u.state == "present"}
    users = [u for u in server.get("users") or [] if u["name"] in declared]
    if users:
        lines.append("                " + ", ".join(
            f"{u['name']} {u['connections']}/{u['limit'] if u['limit'] >= 0 else '-'}"
            for u in users))
    return lines


def _pooler(env: Environment, found: HostStatus) -> list[str]:
    if not env.pooler.enabled:
        return []
    if found.pools is None:
        return [f"  pooler        port {env.pooler.port}: no answer"]
    pools = [p for p in found.pools if p.get("database") != "pgbouncer"]
    waiting = sum(int(p.get("cl_waiting") or 0) for p in pools)
    lines = [f"  pooler        port {env.pooler.port}: {waiting} clients waiting"]
    for p in pools:
        lines.append(f"                {p.get('database')}/{p.get('user')} "
                     f"{p.get('pool_mode')}: clients {p.get('cl_active')} active "
                     f"{p.get('cl_waiting')} waiting, server {p.get('sv_active')} active "
                     f"{p.get('sv_idle')} idle, longest wait {p.get('maxwait')} s")
    return lines


def _backup(env: Environment, found: HostStatus) -> list[str]:
    if not env.backups.enabled:
        return ["  backups       off"]
    if env.backups.method != "pg_dump":
        return ["  backups       pgbackrest: see `pgstead backups`"]
    last = found.last_backup
    if last is None:
        return ["  backups       none yet"]
    verified = all(d.get("verified") for d in last.get("databases") or [])
    return [f"  backups       last {last.get('finished') or last.get('started')}, "
            f"{last.get('status')}, {'verified' if verified else 'NOT verified'}"]


def describe(env: Environment, found: HostStatus, at: datetime) -> list[str]:
    lines = [f"host {found.host}"]
    server = found.server
    if found.error or server is None:
        lines += [f"  problem: {p}" for p in found.problems]
        return lines
    role = "replica" if server["in_recovery"] else "primary"
    lines.append(f"  server        PostgreSQL {server['version']}, {role}, "
                 f"up {_duration(server['uptime_seconds'])}")
    lines += _connections(env, server)
    lines += _pooler(env, found)
    replicas = server.get("replicas") or []
    lines.append("  replication   " + (", ".join(
        f"{r['name'] or r['address']} lag {float(r['lag_seconds']):.1f} s"
        for r in replicas) or "no replicas"))
    lines += _backup(env, found)
    if found.cert_not_after is not None:
        lines.append(f"  certificate   {(found.cert_not_after - at).days} days left")
    pending = server.get("pending_restart") or []
    lines.append("  restart       " + (f"pending for {', '.join(pending)}" if pending
                                        else "none pending"))
    lines.append("  databases     " + ", ".join(
        f"{d['name']} {human_size(d['bytes'])}" for d in server.get("largest_databases") or []))
    if found.tables:
        lines.append("  tables        " + ", ".join(
            f"{t['database']}.{t['name']} {human_size(t['bytes'])}" for t in found.tables))
    longest = server.get("longest_transaction")
    lines.append("  longest xact  " + (
        f"{_duration(longest['seconds'])} (pid {longest['pid']}, {longest['user']} in "
        f"{longest['database']}, {longest['state']})" if longest else "none open"))
    if found.statements:
        lines.append("  top statements (total time)")
        lines += [f"    {s['total_seconds']:>9} s {s['calls']:>7} calls  {s['query']}"
                  for s in found.statements]
    elif env.monitoring.statements:
        lines.append("  top statements: pg_stat_statements not readable yet (restart pending?)")
    lines += ([f"  problem: {p}" for p in found.problems] or ["  problems      none"])
    return lines


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--inventory", metavar="INVENTORY",
              help="pyinfra inventory of the hosts (default: FILE's NAME.py beside it, else "
                   "@local).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.pass_context
def status(ctx: click.Context, file: str, inventory: str | None, output_format: str) -> None:
    """One screen per host of FILE's environment, read live; exit 1 naming each problem."""
    env = load_environment(file, resolve_secrets=False)
    inventory = inventory or default_inventory(file)
    with inventory_hosts(inventory) as hosts:
        if not hosts.names:
            raise click.UsageError(f"inventory {inventory} has no hosts")
        found = [read_status(hosts, name, env) for name in hosts.names]
    at = now()
    for f in found:
        f.problems = host_problems(env, f, at)
    if output_format == "json":
        click.echo(json.dumps([asdict(f) for f in found], indent=2, default=str))
    else:
        click.echo("\n".join(line for f in found for line in describe(env, f, at)))
    if any(f.problems for f in found):
        ctx.exit(EXIT_FAILURE)
