"""Read one host's health live for `pgstead status`: the server, the pooler, the last backup
and the certificate, in one shell command (plus the backup's last-run.json)."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyinfra.api import QuoteString, StringCommand

from pgstead.cli.backup_report import read_last_run
from pgstead.cli.hosts import HostUnreachable, InventoryHosts
from pgstead.config.model import Environment
from pgstead.desired.settings import TLS_FILES
from pgstead.pki.certinfo import cert_info
from pgstead.postgres.sql import render
from pgstead.render.pgbouncer import SOCKET_DIR
from pgstead.server.select import server_for

MARK = "@@pgstead-status "


@dataclass
class HostStatus:
    host: str
    server: dict[str, Any] | None = None  # status_server.sql's document; None: unreachable
    tables: list[dict[str, Any]] = field(default_factory=list)
    statements: list[dict[str, Any]] | None = None  # None: pg_stat_statements not readable
    pools: list[dict[str, str]] | None = None  # pgbouncer's SHOW POOLS; None: not read
    pooler_error: str | None = None
    last_backup: dict[str, Any] | None = None
    cert_not_after: datetime | None = None
    error: str | None = None  # the host could not be read at all
    problems: list[str] = field(default_factory=list)


def _psql(env: Environment, sql_text: str, database: str = "postgres") -> str:
    server = server_for(env)
    return StringCommand(*server.tool("psql"), "-X", "-q", "-A", "-t", "-d",
                         QuoteString(database), "-c", QuoteString(sql_text)).get_raw_value()


def status_script(env: Environment) -> str:
    """The shell script that prints every section, each after a mark line."""
    server = server_for(env)
    parts = [f"echo '{MARK}server'", f"{_psql(env, render('status_server'))} || echo null"]
    if env.monitoring.statements:
        parts += [f"echo '{MARK}statements'",
                  f"{_psql(env, render('status_statements'))} 2>/dev/null || echo null"]
    for database in env.databases:
        parts += [f"echo '{MARK}tables'",
                  f"{_psql(env, render('status_tables'), database.name)} 2>/dev/null "
                  "|| echo '[]'"]
    if env.pooler.enabled:
        # The admin console lets `pgbouncer` in over the socket from pgbouncer's own OS user.
        console = shlex.join(["runuser", "-u", "postgres", "--", f"{server.bindir}/psql", "-X",
                              "-q", "-A", "-P", "footer=off", "-h", SOCKET_DIR, "-p",
                              str(env.pooler.port), "-U", "pgbouncer", "-d", "pgbouncer",
                              "-c", "SHOW POOLS"])
        parts += [f"echo '{MARK}pooler'", f"{console} 2>&1 || echo '!unreachable'"]
    if env.tls.enabled:
        cert = shlex.quote(server.host_path(f"{server.config_dir}/{TLS_FILES['cert']}"))
        parts += [f"echo '{MARK}cert'", f"cat -- {cert} 2>/dev/null"]
    return "; ".join(parts)


def _sections(lines: list[str]) -> list[tuple[str, list[str]]]:
    sections: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.startswith(MARK):
            sections.append((line[len(MARK):].strip(), []))
        elif sections:
            sections[-1][1].append(line)
    return sections


def _json(lines: list[str]) -> Any:
    try:
        return json.loads("".join(lines).strip() or "null")
    except json.JSONDecodeError:
        return None


def _pools(lines: list[str]) -> tuple[list[dict[str, str]] | None, str | None]:
    rows = [line for line in lines if line.strip()]
    if not rows or rows[-1] == "!unreachable" or "|" not in rows[0]:
        return None, " ".join(r for r in rows if r != "!unreachable") or "no answer"
    header = rows[0].split("|")
    return [dict(zip(header, row.split("|"), strict=False)) for row in rows[1:]], None


def parse_status(host: str, lines: list[str]) -> HostStatus:
    found = HostStatus(host)
    for name, body in _sections(lines):
        if name == "server":
            found.server = _json(body)
        elif name == "statements":
            found.statements = _json(body)
        elif name == "tables":
            found.tables += _json(body) or []
        elif name == "pooler":
            found.pools, found.pooler_error = _pools(body)
        elif name == "cert":
            text = "\n".join(body).strip()
            if text:
                try:
                    found.cert_not_after = cert_info(text.encode()).not_after
                except ValueError:
                    found.cert_not_after = None
    found.tables = sorted(found.tables, key=lambda t: -int(t.get("bytes") or 0))[:5]
    return found


def read_status(hosts: InventoryHosts, name: str, env: Environment) -> HostStatus:
    try:
        output = hosts.run(name, status_script(env))
        found = parse_status(name, output.stdout_lines)
        if env.backups.enabled and env.backups.method == "pg_dump":
            found.last_backup = read_last_run(hosts, name, env.backups.dir)
    except HostUnreachable as error:
        found = HostStatus(name, error=str(error))
    return found


def now() -> datetime:
    return datetime.now(UTC)
