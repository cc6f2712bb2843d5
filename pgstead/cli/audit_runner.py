"""`pgstead audit`'s runner: read each host's live state once, judge it by the hardening controls.

One shell command per host reads everything: one psql session (the catalogs and settings as
one JSON document, then the log directory's absolute path), then `stat` of the log directory
and its files, then the postgres login shell's umask. It runs directly on this machine for
`@local`, and through pyinfra's connectors (a fact) for the hosts of an inventory, so an
SSH host is read with the same settings as a deploy.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass, replace

from pyinfra.api import FactBase, QuoteString, StringCommand
from pyinfra.api.exceptions import PyinfraError

from pgstead.cli.inventory_state import connected_inventory
from pgstead.config.model import Environment
from pgstead.desired import hardening
from pgstead.desired.hardening import FileStat, HbaLine, Live, LiveParam
from pgstead.postgres.sql import literal, render
from pgstead.server.psql import Server
from pgstead.server.select import server_for

LOCAL_HOST = "@local"
_FILES = "pgstead:files"
_UMASK = "pgstead:login-umask"
_PUBLIC_USAGE = "public-usage|"
_PASSPHRASE = "pgstead:passphrase-file"
_WAL = "pgstead:wal"
_QUERY_FLAGS = ("-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", "postgres")
# stat lines: "<octal mode> <owner> <path>"
_STAT = "'%a %U %n'"


class AuditError(Exception):
    """A host whose state could not be read (unreachable, server down)."""


def audit_command(server: Server, names: tuple[str, ...],
                  databases: tuple[str, ...] = (), passphrase_file: str | None = None,
                  wal_directory: str | None = None) -> StringCommand:
    """The one command that prints everything an audit of `server` needs; `databases` are
    read one psql each (a catalog is per database), a missing one printing nothing; the
    passphrase file is only stat'ed, never read; pg_wal and `wal_directory` are resolved."""
    query = render("audit_live", names=literal(list(names)))
    psql = [*server.tool("psql"), *_QUERY_FLAGS, "-c", QuoteString(query),
            "-c", QuoteString("SELECT current_setting('data_directory')"),
            "-c", QuoteString(render("audit_log_directory"))]
    bits: list[object] = ["out=$(", *psql, ")", "||", "exit", "1;",
                          "printf", "'%s\\n'", '"$out";']
    usage = QuoteString(render("audit_public_usage"))
    for database in databases:
        bits += [*server.tool("psql"), "-X", "-q", "-A", "-t", "-d", QuoteString(database),
                 "-c", usage, "2>/dev/null;"]
    if server.native:
        bits += [
            "dir=$(printf", "'%s\\n'", '"$out"', "|", "tail", "-n", "1);",
            "echo", _FILES, ";",
            "if", "[", "-d", '"$dir"', "];", "then",
            "stat", "-c", _STAT, "--", '"$dir";',
            "find", '"$dir"', "-maxdepth", "1", "-type", "f", "-exec", "stat", "-c", _STAT,
            "{}", "+;",
            "fi;",
            "echo", _UMASK, ";",
            # A login shell reads the profile the hardening role writes.
            "runuser", "-l", "postgres", "-c", "umask", "2>/dev/null", "|", "tail", "-n", "1",
        ]
        if passphrase_file:
            bits += [";", "echo", _PASSPHRASE, ";", "stat", "-c", _STAT, "--",
                     QuoteString(passphrase_file), "2>/dev/null", "||", "true"]
        if wal_directory:
            bits += [";", "data=$(printf", "'%s\\n'", '"$out"', "|", "tail", "-n", "2", "|",
                     "head", "-n", "1);", "echo", _WAL, ";", "readlink", "-m", "--",
                     '"$data/pg_wal"', QuoteString(wal_directory)]
    return StringCommand(*bits)


def parse_live(lines: list[str], *, native: bool) -> Live:
    """A `Live` from the output of `audit_command`."""
    if not lines:
        raise AuditError("no output from the server")
    public_usage = {}
    for line in [line for line in lines if line.startswith(_PUBLIC_USAGE)]:
        database, usage = line[len(_PUBLIC_USAGE):].rsplit("|", 1)
        public_usage[database] = usage
    lines = [line for line in lines if not line.startswith(_PUBLIC_USAGE)]
    data = json.loads(lines[0])
    log_dir_path = lines[2].strip() if len(lines) > 2 else ""
    stats: list[FileStat] = []
    login_umask = None
    passphrase = None
    wal: list[str] = []
    section = ""
    for line in lines[3:]:
        if line in (_FILES, _UMASK, _PASSPHRASE, _WAL):
            section = line
        elif section == _WAL and line.strip():
            wal.append(line.strip())
        elif section in (_FILES, _PASSPHRASE) and line.strip():
            mode, owner, path = line.split(" ", 2)
            stat = FileStat(path=path, mode=int(mode, 8), owner=owner)
            if section == _FILES:
                stats.append(stat)
            else:
                passphrase = stat
        elif section == _UMASK and line.strip():
            login_umask = line.strip()
    log_dir = next((s for s in stats if s.path == log_dir_path), None)
    return Live(
        settings={name: LiveParam(setting=row["setting"], unit=row["unit"],
                                  vartype=row["vartype"],
                                  enumvals=tuple(row["enumvals"]) if row["enumvals"] else None)
                  for name, row in data["settings"].items()},
        data_checksums=data["data_checksums"],
        data_directory=data["data_directory"],
        md5_roles=tuple(data["md5_roles"]),
        hba=tuple(HbaLine(line=h["line"], type=h["type"], databases=tuple(h["databases"] or ()),
                          users=tuple(h["users"] or ()), address=h["address"],
                          method=h["method"]) for h in data["hba"]),
        unlimited_roles=tuple(data["unlimited_roles"]),
        postmaster_umask=data["postmaster_umask"],
        login_umask=login_umask,
        log_dir=log_dir,
        log_files=tuple(s for s in stats if s is not log_dir),
        native=native,
        public_usage=public_usage,
        superuser_connection_limit=data["superuser_connection_limit"],
        ssl_key_header=data["ssl_key_header"],
        passphrase_file=passphrase,
        wal=(wal[0], wal[1]) if len(wal) == 2 else None,
    )


@dataclass(frozen=True)
class ControlResult:
    control: str
    area: str
    status: str  # pass | fail | skip
    live: str
    fix: str
    reason: str = ""  # why skipped


@dataclass(frozen=True)
class HostAudit:
    host: str
    results: tuple[ControlResult, ...] = ()
    error: str | None = None  # the host could not be read

    @property
    def passed(self) -> bool:
        return self.error is None and all(r.status != "fail" for r in self.results)


def audited_environment(env: Environment) -> Environment:
    """The environment whose controls an audit checks: a server with hardening off is still
    judged against the baseline, so the audit shows where it stands."""
    if env.hardening.level != "off":
        return env
    return replace(env, hardening=replace(env.hardening, level="baseline"))


def judge(env: Environment, live: Live) -> tuple[ControlResult, ...]:
    """Every control's verdict on `live`; skipped ones say why."""
    env = audited_environment(env)
    results = []
    for item in hardening.controls_for(env):
        c = item.control
        if item.skipped is not None:
            results.append(ControlResult(c.name, c.area, "skip", "", c.fix, item.skipped))
            continue
        verdict = c.check(live, env)
        results.append(ControlResult(c.name, c.area, "pass" if verdict.passed else "fail",
                                     verdict.live, c.fix))
    return tuple(results)


def _names(env: Environment) -> tuple[str, ...]:
    return tuple(hardening.parameter_names(audited_environment(env)))


def _databases(env: Environment) -> tuple[str, ...]:
    return tuple(hardening.public_usage_databases(env))


def _wal_directory(env: Environment) -> str | None:
    return env.postgres.wal_directory if hardening.is_active(
        audited_environment(env), "wal_directory") else None


def _passphrase_file(env: Environment) -> str | None:
    return hardening.passphrase_file(env) if hardening.key_encrypted(
        audited_environment(env)) else None


def audit_local(env: Environment) -> HostAudit:
    """Audit this machine directly."""
    server = server_for(env)
    command = audit_command(server, _names(env), _databases(env), _passphrase_file(env),
                            _wal_directory(env)).get_raw_value()
    proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=120,
                          check=False)
    if proc.returncode != 0:
        reason = proc.stderr.strip().splitlines()[-1:] or ["no answer"]
        return HostAudit(LOCAL_HOST, error=f"cannot read {server}: {reason[0]}")
    live = parse_live(proc.stdout.splitlines(), native=server.native)
    return HostAudit(LOCAL_HOST, judge(env, live))


class HardeningLive(FactBase):
    """The lines of `audit_command` on a host (for `pgstead audit --inventory`)."""

    def command(self, server: Server, names: tuple[str, ...],
                databases: tuple[str, ...] = (), passphrase_file: str | None = None,
                wal_directory: str | None = None) -> StringCommand:
        return audit_command(server, names, databases, passphrase_file, wal_directory)

    def process(self, output: list[str]) -> list[str]:
        return list(output)


def audit_inventory(env: Environment, inventory: str, only_host: str | None = None
                    ) -> list[HostAudit]:
    """Audit each host of a pyinfra inventory through its connector."""
    server = server_for(env)
    names = _names(env)
    audits = []
    with connected_inventory(inventory) as state:
        for host in state.inventory:
            if only_host and host.name != only_host:
                continue
            if host not in state.activated_hosts:
                audits.append(HostAudit(host.name, error="host unreachable"))
                continue
            try:
                lines = host.get_fact(HardeningLive, server=server, names=names,
                                      databases=_databases(env),
                                      passphrase_file=_passphrase_file(env),
                                      wal_directory=_wal_directory(env))
            except PyinfraError as error:
                audits.append(HostAudit(host.name, error=f"cannot read {server}: {error}"))
                continue
            if not lines:
                audits.append(HostAudit(host.name, error=f"cannot read {server}"))
                continue
            audits.append(HostAudit(host.name, judge(env, parse_live(
                lines, native=server.native))))
    return audits


def as_json(audits: list[HostAudit]) -> str:
    return json.dumps({
        "passed": all(a.passed for a in audits),
        "hosts": {a.host: {"passed": a.passed, "error": a.error,
                           "controls": [asdict(r) for r in a.results]} for a in audits},
    }, indent=2)


def as_text(audits: list[HostAudit]) -> str:
    lines = []
    for a in audits:
        if a.error:
            lines.append(f"{a.host}: error: {a.error}")
            continue
        width = max(len(r.control) for r in a.results)
        for r in a.results:
            head = f"{a.host}  {r.control:<{width}}  "
            if r.status == "skip":
                lines.append(f"{head}skip ({r.reason})")
            elif r.status == "pass":
                lines.append(f"{head}pass  {r.live}")
            else:
                lines.append(f"{head}FAIL  {r.live}  -> fix: {r.fix}")
        failed = sum(r.status == "fail" for r in a.results)
        lines.append(f"{a.host}: {failed} of {len(a.results)} controls fail" if failed
                     else f"{a.host}: every applied control passes")
    return "\n".join(lines)
