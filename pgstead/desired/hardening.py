"""The hardening controls: a CIS-style baseline, one table driving both the apply and the audit.

Each `Control` names what it ensures, the server parameters (and preload libraries) the apply
sets for it, and a check of a host's live state (`Live`, read by
`pgstead.cli.audit_runner`). The apply takes its settings from exactly the controls the
audit checks, so the two cannot disagree.

Levels: `baseline` (the default), `strict` (tighter values, pgaudit on), `off` (nothing: the
server keeps the distribution's defaults apart from what the file asks). Any control can be
opted out by name, with a reason the audit prints.

Choices worth knowing:
- umask: the postmaster sets its own umask to 0077 (unless the data directory allows group
  access); the postgres OS user's login shell gets `umask 077` in ~postgres/.bash_profile, so
  files an operator makes as postgres (dumps, copies) are private too. Debian's pg_ctl.conf and
  environment files cannot set a umask (options to pg_ctl and environment variables only).
- log_error_verbosity: `default` at baseline, since it already logs DETAIL, HINT, QUERY and
  CONTEXT, which is what an auditor reads; `strict` uses `verbose` (adds the SQLSTATE and the
  source location) at the cost of larger logs.
- unix_socket_permissions 0770: only postgres and members of its group reach the socket; local
  applications run by other users connect over TCP (or join the group).
- connection limits: a login user without a declared `connection_limit` gets an equal share of
  what max_connections leaves after superuser_reserved_connections and the declared limits
  (at least 1), so no single role can take every connection.
- the postgres superuser: pg_hba gets `host all postgres all reject` and
  `host replication postgres all reject` before the file's rules, so a rule for `all` users
  never admits postgres over TCP; postgres keeps the local socket with peer.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from pgstead.config.model import Environment, HbaRule
from pgstead.postgres import catalog, units

LEVELS = ("baseline", "strict", "off")
LOG_ROOT = "/var/log/postgresql"
POSTGRES_HOME = "/var/lib/postgresql"  # Debian's home of the postgres OS user
PROFILE_UMASK_LINE = "umask 077"
LOG_LINE_PREFIX = "%m [%p] %q%u@%d app=%a client=%h "
# TLS 1.2 suites with forward secrecy (ECDHE/DHE) and an AEAD cipher, named one by one so that
# no OpenSSL alias can widen them; TLS 1.3 suites are all forward secret and not set here.
SSL_CIPHERS = ":".join((
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-CHACHA20-POLY1305", "DHE-RSA-AES128-GCM-SHA256",
))
TCP_TYPES = {"host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc"}
WEAK_HBA_METHODS = {"md5", "password"}
# Hba rules that keep the postgres superuser off TCP, whatever the file's `all` rules say.
SUPERUSER_TCP_REJECTS = (
    HbaRule(type="host", database="all", user="postgres", address="all", method="reject"),
    HbaRule(type="host", database="replication", user="postgres", address="all",
            method="reject"),
)

# Time zone names the tz database defines as UTC itself.
_UTC_NAMES = {"utc", "etc/utc", "uct", "etc/uct", "zulu", "etc/zulu", "universal",
              "etc/universal"}
# Enum parameters where a later value is stricter (logs more, or accepts fewer protocols).
_ORDER = {
    "log_statement": ("none", "ddl", "mod", "all"),
    "log_error_verbosity": ("terse", "default", "verbose"),
    "ssl_min_protocol_version": ("", "tlsv1", "tlsv1.1", "tlsv1.2", "tlsv1.3"),
}


# ---- the live state a check reads -------------------------------------------------------

@dataclass(frozen=True)
class LiveParam:
    setting: str  # pg_settings.setting, in the parameter's unit
    unit: str | None
    vartype: str
    enumvals: tuple[str, ...] | None = None


@dataclass(frozen=True)
class FileStat:
    path: str
    mode: int
    owner: str


@dataclass(frozen=True)
class HbaLine:
    line: int
    type: str
    databases: tuple[str, ...]
    users: tuple[str, ...]
    address: str | None
    method: str


@dataclass(frozen=True)
class Live:
    """One host's state as `pgstead audit` reads it: the server's catalogs and the files."""

    settings: dict[str, LiveParam]
    data_checksums: str
    data_directory: str
    md5_roles: tuple[str, ...] = ()
    hba: tuple[HbaLine, ...] = ()
    unlimited_roles: tuple[str, ...] = ()
    postmaster_umask: str | None = None
    login_umask: str | None = None
    log_dir: FileStat | None = None  # None: missing (or not looked at)
    log_files: tuple[FileStat, ...] = ()
    native: bool = True
    # database -> whether PUBLIC may use its schema public: "yes", "no", "none" (no such
    # schema); a database not read (absent) is missing from the map.
    public_usage: dict[str, str] = field(default_factory=dict)
    superuser_connection_limit: int | None = None  # rolconnlimit of postgres
    ssl_key_header: str | None = None  # first line of the server's key file (never the key)
    passphrase_file: FileStat | None = None  # None: missing (or not looked at)
    wal: tuple[str, str] | None = None  # (where pg_wal resolves, the wanted dir resolved)


@dataclass(frozen=True)
class Verdict:
    passed: bool
    live: str  # what the host has, in words


# ---- the controls ------------------------------------------------------------------------

Values = Callable[[Environment], dict[str, str]]


@dataclass(frozen=True)
class Control:
    name: str
    area: str  # cluster | logging | authentication | access | tls | runtime | optional
    summary: str
    fix: str
    check: Callable[[Live, Environment], Verdict]
    settings: Values = lambda env: {}
    libraries: tuple[str, ...] = ()  # for shared_preload_libraries
    packages: Callable[[Environment], tuple[str, ...]] = lambda env: ()
    native_only: bool = False  # files on the host; a container logs to Docker instead
    compose_reason: str = "the container logs to Docker"  # why native_only, for the audit
    wanted: Callable[[Environment], bool] = lambda env: True  # optional controls
    wants: tuple[Want, ...] = ()  # the parameters of a parameter control, as judged


def strict(env: Environment) -> bool:
    return env.hardening.level == "strict"


def _param_value(live: Live, name: str) -> str:
    row = live.settings.get(name)
    return "(not set)" if row is None else units.humanise(row.setting, row.unit)


def _satisfies(name: str, desired: str, row: LiveParam, how: str) -> bool:
    try:
        if how == "equal":
            return units.same(desired, row.setting, row.vartype, row.unit,
                              enumvals=row.enumvals, name=name)
        if how == "contains":
            wanted = {item.lower() for item in units.split_list(desired)}
            return wanted <= {item.lower() for item in units.split_list(row.setting)}
        if how == "at_least" and name in _ORDER:
            order = _ORDER[name]
            return order.index(row.setting.lower()) >= order.index(desired.lower())
        if how == "mode_within":
            # No permission bit beyond the wanted ones (0700 is within 0770).
            return int(row.setting, 8) & ~int(desired, 8) == 0
        wanted = float(units.parse(desired, row.vartype, row.unit, name=name))
        live = float(row.setting)
        if how == "at_least":
            return live >= wanted
        if how == "at_most":
            return 0 < live <= wanted
    except (ValueError, units.SettingValueError):
        return False
    raise ValueError(f"unknown comparison {how!r}")


@dataclass(frozen=True)
class Want:
    """One parameter a control sets, and how the live value is judged against it."""

    name: str
    value: Callable[[Environment], str]
    how: str = "equal"  # equal | at_least | at_most | mode_within | contains


def _params(*wants: Want) -> tuple[Values, Callable[[Live, Environment], Verdict]]:
    def settings(env: Environment) -> dict[str, str]:
        return {w.name: w.value(env) for w in wants}

    def check(live: Live, env: Environment) -> Verdict:
        shown, passed = [], True
        for w in wants:
            row = live.settings.get(w.name)
            passed = passed and row is not None and _satisfies(w.name, w.value(env), row, w.how)
            shown.append(_param_value(live, w.name))
        if len(wants) == 1:
            return Verdict(passed, shown[0])
        return Verdict(passed, ", ".join(f"{w.name}={v}" for w, v in zip(wants, shown,
                                                                           strict=True)))
    return settings, check


def _fixed(value: str, strict_value: str | None = None) -> Callable[[Environment], str]:
    return lambda env: strict_value if strict_value is not None and strict(env) else value


def param_control(name: str, area: str, summary: str, *wants: Want, **extra) -> Control:
    settings, check = _params(*wants)
    fix = extra.pop("fix", None) or "pgstead apply sets " + ", ".join(w.name for w in wants)
    return Control(name=name, area=area, summary=summary, fix=fix, check=check,
                   settings=settings, wants=wants, **extra)


def one_param(name: str, area: str, summary: str, value: str, strict_value: str | None = None,
              how: str = "equal", **extra) -> Control:
    """A control that is exactly one parameter, named after it."""
    return param_control(name, area, summary, Want(name, _fixed(value, strict_value), how),
                         **extra)


def log_directory(env: Environment) -> str:
    return f"{LOG_ROOT}/{env.postgres.version}-{env.postgres.cluster}"


def _library_check(library: str, more: Callable[[Live, Environment], Verdict] | None = None
                   ) -> Callable[[Live, Environment], Verdict]:
    def check(live: Live, env: Environment) -> Verdict:
        loaded = live.settings.get("shared_preload_libraries")
        items = units.split_list(loaded.setting) if loaded else []
        verdict = Verdict(library in items, f"shared_preload_libraries={','.join(items) or '-'}")
        if more is None or not verdict.passed:
            return verdict
        extra = more(live, env)
        return Verdict(extra.passed, f"{verdict.live}, {extra.live}")
    return check


# ---- custom checks -----------------------------------------------------------------------

def _check_checksums(live: Live, env: Environment) -> Verdict:
    return Verdict(live.data_checksums == "on", f"data_checksums={live.data_checksums}")


def _check_umask(live: Live, env: Environment) -> Verdict:
    passed = live.postmaster_umask == "0077" and live.login_umask == "0077"
    return Verdict(passed, f"postmaster {live.postmaster_umask or '?'}, "
                           f"postgres login shell {live.login_umask or '?'}")


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _check_log_directory(live: Live, env: Environment) -> Verdict:
    row = live.settings.get("log_directory")
    where = row.setting if row else "?"
    if not where.startswith("/"):
        where = f"{live.data_directory}/{where}"
    if _inside(where, live.data_directory):
        return Verdict(False, f"{where} (inside the data directory)")
    if live.log_dir is None:
        return Verdict(False, f"{where} (missing)")
    d = live.log_dir
    passed = d.mode & 0o077 == 0 and d.owner == "postgres"
    return Verdict(passed, f"{where} (mode {d.mode:04o}, owner {d.owner})")


def _check_log_files(live: Live, env: Environment) -> Verdict:
    row = live.settings.get("log_file_mode")
    wide = [f for f in live.log_files if f.mode & 0o177]
    passed = row is not None and _satisfies("log_file_mode", "0600", row, "mode_within")
    shown = f"log_file_mode={row.setting if row else '?'}, {len(live.log_files)} files"
    if wide:
        shown += ", wider than 0600: " + ", ".join(f"{f.path} {f.mode:04o}" for f in wide[:3])
    return Verdict(passed and not wide, shown)


def _check_prefix(live: Live, env: Environment) -> Verdict:
    row = live.settings.get("log_line_prefix")
    prefix = row.setting if row else ""
    # time, pid, user, database, application, client: any spelling of each will do.
    needed = (("%m", "%t", "%n"), ("%p",), ("%u",), ("%d",), ("%a",), ("%h", "%r"))
    passed = all(any(e in prefix for e in group) for group in needed)
    return Verdict(passed, repr(prefix))


def _check_utc(live: Live, env: Environment) -> Verdict:
    row = live.settings.get("log_timezone")
    zone = row.setting if row else "(not set)"
    return Verdict(zone.lower() in _UTC_NAMES, zone)


def _check_no_md5(live: Live, env: Environment) -> Verdict:
    weak = [f"line {h.line} {h.method}" for h in live.hba if h.method in WEAK_HBA_METHODS]
    passed = not live.md5_roles and not weak
    parts = [f"md5 verifiers: {', '.join(live.md5_roles) or 'none'}",
             f"md5/password hba lines: {', '.join(weak) or 'none'}"]
    return Verdict(passed, "; ".join(parts))


def superuser_tcp_openings(hba: tuple[HbaLine, ...]) -> list[HbaLine]:
    """TCP rules that could admit postgres, not shadowed by an earlier reject of postgres."""
    rejected: set[str] = set()  # "all" (every database but replication) and/or "replication"
    openings = []
    for rule in hba:
        if rule.type not in TCP_TYPES or not ({"all", "postgres"} & set(rule.users)):
            continue
        kinds = {"replication" if d == "replication" else "all" for d in rule.databases}
        if rule.method == "reject":
            if rule.users == ("postgres",) and rule.address in ("all", None):
                rejected |= kinds
            continue
        if not kinds <= rejected:
            openings.append(rule)
    return openings


def _check_superuser_local(live: Live, env: Environment) -> Verdict:
    open_lines = superuser_tcp_openings(live.hba)
    if not open_lines:
        return Verdict(True, "no TCP rule admits postgres")
    shown = ", ".join(f"line {h.line} ({h.type} {','.join(h.users)} {h.method})"
                      for h in open_lines[:3])
    return Verdict(False, f"TCP rules admit postgres: {shown}")


def _check_connection_limits(live: Live, env: Environment) -> Verdict:
    if live.unlimited_roles:
        return Verdict(False, "no limit: " + ", ".join(live.unlimited_roles))
    return Verdict(True, "every login role has one")


TEMPLATE_DATABASE = "template1"
SUPERUSER = "postgres"
# Connections the postgres superuser needs at once, beside a backup's (pgstead-backup's
# pg_dump/pg_restore jobs plus its leader and a checking psql, or pgBackRest's backup and
# check): the exporter and its reconnect (2), an operator's sessions (3: a psql, a second one
# to cancel or terminate, a maintenance job) and pgstead's own apply, whose facts and
# operations run one psql at a time (1).
_SUPERUSER_BESIDE_BACKUPS = 2 + 3 + 1
PASSPHRASE_DIR = "/etc/pgstead/tls"
ENCRYPTED_KEY_HEADERS = ("-----BEGIN ENCRYPTED PRIVATE KEY-----", "Proc-Type: 4,ENCRYPTED")


def superuser_connection_limit(env: Environment) -> int:
    """CONNECTION LIMIT for postgres: a backup's connections (its jobs, plus 2) and the rest."""
    return env.backups.jobs + 2 + _SUPERUSER_BESIDE_BACKUPS


def passphrase_file(env: Environment) -> str:
    """Where the host keeps the passphrase of the server's encrypted key: root writes it, the
    postgres group (the server) may only read it, outside the postgres-owned config dir."""
    return f"{PASSPHRASE_DIR}/{env.postgres.version}-{env.postgres.cluster}.passphrase"


def passphrase_command(env: Environment) -> str:
    """ssl_passphrase_command: prints the file's line; the passphrase itself is never in the
    server's configuration nor on any command line."""
    return f"cat {shlex.quote(passphrase_file(env))}"


def key_encrypted(env: Environment) -> bool:
    return is_active(env, "ssl_key_encrypted")


def _check_superuser_limit(live: Live, env: Environment) -> Verdict:
    limit = live.superuser_connection_limit
    wanted = superuser_connection_limit(env)
    if limit is None:
        return Verdict(False, f"no role {SUPERUSER}")
    if limit < 0:
        return Verdict(False, f"{SUPERUSER}: no limit (pgstead sets {wanted})")
    return Verdict(limit >= wanted, f"{SUPERUSER}: {limit}" + (
        "" if limit >= wanted else f" (below the {wanted} backups and operators need)"))


def _check_key_encrypted(live: Live, env: Environment) -> Verdict:
    _, check = _params(Want("ssl_passphrase_command", passphrase_command),
                              Want("ssl_passphrase_command_supports_reload", _fixed("on")))
    verdict = check(live, env)
    shown = [verdict.live]
    header = live.ssl_key_header or ""
    encrypted = any(header.startswith(h) for h in ENCRYPTED_KEY_HEADERS)
    shown.append("key encrypted" if encrypted else "key NOT encrypted")
    stat = live.passphrase_file
    private = stat is not None and stat.owner == "root" and stat.mode & 0o037 == 0
    shown.append("passphrase file missing" if stat is None else
                 f"passphrase file {stat.mode:04o} {stat.owner}")
    return Verdict(verdict.passed and encrypted and private, ", ".join(shown))


def public_usage_databases(env: Environment) -> list[str]:
    """The databases whose schema public PUBLIC may not use: the file's, and template1 (so
    new databases start locked)."""
    return [*(db.name for db in env.databases), TEMPLATE_DATABASE]


def _check_public_usage(live: Live, env: Environment) -> Verdict:
    wanted = public_usage_databases(env)
    open_to_all = [db for db in wanted if live.public_usage.get(db) == "yes"]
    unread = [db for db in wanted if db not in live.public_usage]
    if open_to_all or unread:
        shown = [f"PUBLIC uses public in {', '.join(open_to_all)}"] if open_to_all else []
        shown += [f"not found: {', '.join(unread)}"] if unread else []
        return Verdict(False, "; ".join(shown))
    return Verdict(True, f"PUBLIC has no USAGE on public in {', '.join(wanted)}")


def _check_wal_directory(live: Live, env: Environment) -> Verdict:
    if live.wal is None:
        return Verdict(False, "pg_wal not read")
    where, wanted = live.wal
    return Verdict(where == wanted, f"pg_wal -> {where}")


def _check_pgaudit_log(live: Live, env: Environment) -> Verdict:
    row = live.settings.get("pgaudit.log")
    wanted = ",".join(pgaudit_classes(env))
    passed = row is not None and _satisfies("pgaudit.log", wanted, row, "contains")
    return Verdict(passed, f"pgaudit.log={row.setting if row else '(not set)'}")


def pgaudit_classes(env: Environment) -> tuple[str, ...]:
    return env.hardening.pgaudit.classes


def pgaudit_enabled(env: Environment) -> bool:
    return env.hardening.pgaudit.enabled


def _always_on(name: str, area: str, summary: str) -> Control:
    return one_param(name, area, summary, "on")


def _always_off(name: str, area: str, summary: str) -> Control:
    return one_param(name, area, summary, "off")


CONTROLS: tuple[Control, ...] = (
    # cluster and files
    Control("data_checksums", "cluster", "data checksums on (set when the cluster is created)",
            fix="stop the cluster and run pg_checksums --enable on its data directory",
            check=_check_checksums),
    Control("umask", "cluster", "the postgres OS user's umask is 077",
            fix=f"pgstead apply adds `{PROFILE_UMASK_LINE}` to {POSTGRES_HOME}/.bash_profile; "
                "the postmaster needs a data directory without group access",
            check=_check_umask, native_only=True),
    one_param("unix_socket_permissions", "cluster", "the local socket is 0770 at most",
              "0770", how="mode_within"),
    Control(
        "log_directory", "cluster",
        "the log directory is outside the data directory, 0700, owned by postgres",
        fix="pgstead apply creates /var/log/postgresql/<version>-<cluster> 0700 postgres "
            "and sets log_directory to it",
        check=_check_log_directory, settings=lambda env: {"log_directory": log_directory(env)},
        native_only=True),
    Control("log_files", "cluster", "log files are 0600",
            fix="pgstead apply sets log_file_mode 0600; chmod 0600 the older files",
            check=_check_log_files, settings=lambda env: {"log_file_mode": "0600"},
            native_only=True),
    # logging
    one_param("logging_collector", "logging", "the server writes its own log files", "on",
              native_only=True),
    _always_on("log_connections", "logging", "every connection is logged"),
    _always_on("log_disconnections", "logging", "every disconnection is logged, with duration"),
    Control("log_line_prefix", "logging",
            "each log line has time, pid, user, database, application and client",
            fix=f"pgstead apply sets log_line_prefix = '{LOG_LINE_PREFIX}'",
            check=_check_prefix, settings=lambda env: {"log_line_prefix": LOG_LINE_PREFIX}),
    one_param("log_statement", "logging", "schema changes are logged (strict: every change)",
              "ddl", "mod", how="at_least"),
    one_param("log_error_verbosity", "logging", "errors are logged with their detail",
              "default", "verbose", how="at_least"),
    Control("log_timezone", "logging", "log times are in UTC",
            fix="pgstead apply sets log_timezone = UTC", check=_check_utc,
            settings=lambda env: {"log_timezone": "UTC"}),
    _always_on("log_replication_commands", "logging", "replication commands are logged"),
    param_control("log_rotation", "logging", "logs rotate by age and by size, truncating "
                  "a reused file",
                  Want("log_rotation_age", _fixed("1d"), "at_most"),
                  Want("log_rotation_size", _fixed("100MB"), "at_most"),
                  Want("log_truncate_on_rotation", _fixed("on")), native_only=True),
    # authentication
    one_param("password_encryption", "authentication", "passwords are stored as SCRAM-SHA-256",
              "scram-sha-256"),
    Control("no_md5", "authentication", "no md5 verifier in pg_authid, no md5/password rule "
            "in pg_hba",
            fix="ALTER ROLE ... PASSWORD again (stored as SCRAM) for each listed role; "
                "pgstead writes no md5/password hba rule",
            check=_check_no_md5),
    Control("passwordcheck", "authentication", "the server refuses passwords equal to the "
            "user name (passwordcheck); pgstead refuses weak declared passwords",
            fix="pgstead apply adds passwordcheck to shared_preload_libraries (restart)",
            check=_library_check("passwordcheck"), libraries=("passwordcheck",)),
    param_control("auth_delay", "authentication", "a failed login waits before answering",
                  Want("auth_delay.milliseconds", _fixed("500", "1000"), "at_least"),
                  libraries=("auth_delay",),
                  fix="pgstead apply adds auth_delay to shared_preload_libraries (restart) "
                      "and sets auth_delay.milliseconds"),
    one_param("authentication_timeout", "authentication", "a login must finish within 30 s "
              "(strict: 10 s)", "30s", "10s", how="at_most"),
    Control("superuser_local_only", "authentication", "postgres logs in only over the local "
            "socket (peer): no TCP rule admits it",
            fix="pgstead apply writes `host all postgres all reject` (and replication) before "
                "the file's rules",
            check=_check_superuser_local),
    Control("superuser_connection_limit", "authentication",
            "postgres has a connection limit, above what backups, the exporter and an "
            "operator need (strict)",
            fix="pgstead apply sets ALTER ROLE postgres CONNECTION LIMIT <backups.jobs + 8>",
            check=_check_superuser_limit, wanted=strict),
    Control("connection_limits", "authentication", "every login role has a connection limit",
            fix="declare connection_limit for each user (pgstead derives one from the budget "
                "for declared users); ALTER ROLE ... CONNECTION LIMIT n for the others",
            check=_check_connection_limits),
    # access
    Control("public_schema_usage", "access", "PUBLIC may not use schema public in the file's "
            "databases and template1; each database's declared users may",
            fix="pgstead apply revokes USAGE ON SCHEMA public FROM PUBLIC there and grants it "
                "to the declared users of each database",
            check=_check_public_usage),
    # tls
    one_param("ssl_min_protocol_version", "tls", "TLS 1.2 at least (strict: TLS 1.3)",
              "TLSv1.2", "TLSv1.3", how="at_least",
              fix="pgstead apply sets it (tls.min_protocol may raise it)"),
    one_param("ssl_ciphers", "tls", "TLS 1.2 suites only with forward secrecy (ECDHE/DHE) "
              "and AES-GCM or ChaCha20-Poly1305", SSL_CIPHERS),
    _always_on("ssl_prefer_server_ciphers", "tls", "the server's cipher order wins"),
    Control("ssl_key_encrypted", "tls", "the server's private key is encrypted at rest; "
            "ssl_passphrase_command reads the passphrase from a file only root writes "
            "(strict)",
            fix="pgstead apply installs the key encrypted, writes the passphrase file "
                f"{PASSPHRASE_DIR}/<version>-<cluster>.passphrase (0440 root:postgres) and "
                "sets ssl_passphrase_command and ssl_passphrase_command_supports_reload",
            check=_check_key_encrypted,
            settings=lambda env: {"ssl_passphrase_command": passphrase_command(env),
                                  "ssl_passphrase_command_supports_reload": "on"},
            native_only=True, wanted=lambda env: strict(env) and env.tls.enabled,
            compose_reason="the passphrase file would live outside the container"),
    # runtime
    _always_off("ignore_system_indexes", "runtime", "system indexes are used"),
    _always_off("jit_debugging_support", "runtime", "no JIT debugger registration"),
    _always_off("jit_profiling_support", "runtime", "no JIT profiling data"),
    one_param("post_auth_delay", "runtime", "no delay after authentication (a debugging aid)",
              "0"),
    # optional
    Control("wal_directory", "optional", "WAL lives in postgres.wal_directory, outside the "
            "data directory",
            fix="set when pgstead creates the cluster (pg_createcluster -- --waldir); for an "
                "existing cluster, move pg_wal there by hand and link it",
            check=_check_wal_directory, native_only=True,
            wanted=lambda env: env.postgres.wal_directory is not None,
            compose_reason="a container keeps its WAL in its volume"),
    Control("pgaudit", "optional", "pgaudit logs the chosen statement classes",
            fix="pgstead apply installs postgresql-<v>-pgaudit, preloads pgaudit (restart) "
                "and sets pgaudit.log",
            check=_library_check("pgaudit", _check_pgaudit_log),
            settings=lambda env: {"pgaudit.log": ", ".join(pgaudit_classes(env))},
            libraries=("pgaudit",),
            packages=lambda env: (f"postgresql-{env.postgres.version}-pgaudit",),
            wanted=pgaudit_enabled),
    Control("set_user", "optional", "set_user for audited privilege escalation",
            fix="pgstead apply installs postgresql-<v>-set-user and preloads set_user (restart)",
            check=_library_check("set_user"), libraries=("set_user",),
            packages=lambda env: (f"postgresql-{env.postgres.version}-set-user",),
            wanted=lambda env: env.hardening.set_user),
)
CONTROL_NAMES = tuple(c.name for c in CONTROLS)


# ---- what an environment asks for --------------------------------------------------------

@dataclass(frozen=True)
class Applicable:
    control: Control
    skipped: str | None = None  # why the control is not applied/checked here


def controls_for(env: Environment) -> list[Applicable]:
    """Every control, with why it is skipped in this environment (None: it applies)."""
    h = env.hardening
    native = env.postgres.install == "native"
    out: list[Applicable] = []
    for control in CONTROLS:
        if h.level == "off":
            reason: str | None = "hardening level off"
        elif control.name in h.opt_out:
            reason = f"opted out: {h.opt_out[control.name]}"
        elif not control.wanted(env):
            reason = "not enabled"
        elif control.native_only and not native:
            reason = f"not for a compose install ({control.compose_reason})"
        else:
            reason = None
        out.append(Applicable(control, reason))
    return out


def active(env: Environment) -> list[Control]:
    return [a.control for a in controls_for(env) if a.skipped is None]


def is_active(env: Environment, name: str) -> bool:
    return any(c.name == name for c in active(env))


def preload_libraries(env: Environment) -> list[str]:
    return [lib for c in active(env) for lib in c.libraries]


def merge_libraries(current: str | None, wanted: list[str]) -> str:
    """A shared_preload_libraries value holding `current`'s items then the missing `wanted`."""
    items = units.split_list(current) if current else []
    items += [lib for lib in wanted if lib not in items]
    return ", ".join(items)


def hardening_settings(env: Environment) -> dict[str, str]:
    """The server parameters the active controls set (the settings layer after baseline)."""
    merged: dict[str, str] = {}
    for control in active(env):
        merged.update(control.settings(env))
    libraries = preload_libraries(env)
    if libraries:
        merged["shared_preload_libraries"] = merge_libraries(None, libraries)
    return merged


def weakened_by_settings(env: Environment) -> list[tuple[str, str]]:
    """(parameter, control) for each explicit `postgres.settings` value that an active control's
    check would fail: the file wins over the control, so the audit would report it forever."""
    known = catalog.parameters(env.postgres.version)
    found = []
    for control in active(env):
        for want in control.wants:
            value, param = env.postgres.settings.get(want.name), known.get(want.name)
            if value is None or param is None:
                continue
            try:
                shown = units.parse_for(param, value)
            except units.SettingValueError:
                continue  # the settings check reports it
            row = LiveParam(shown, param.unit, param.vartype, param.enumvals)
            if not _satisfies(want.name, want.value(env), row, want.how):
                found.append((want.name, control.name))
    return found


def weakening_warnings(env: Environment) -> list[tuple[tuple, str]]:
    """`weakened_by_settings` as warnings on the file's settings (a config.load DerivedCheck)."""
    return [(("postgres", "settings", name), f"{name} here is weaker than hardening control "
             f"{control}, and `pgstead audit` will report it: drop it, or opt the control out "
             "with a reason (hardening.opt_out)")
            for name, control in weakened_by_settings(env)]


def minimum_tls_protocol(env: Environment) -> str | None:
    if not is_active(env, "ssl_min_protocol_version"):
        return None
    return "TLSv1.3" if strict(env) else "TLSv1.2"


def stricter_protocol(a: str, b: str | None) -> str:
    if b is None:
        return a
    order = _ORDER["ssl_min_protocol_version"]
    return a if order.index(a.lower()) >= order.index(b.lower()) else b


def packages(env: Environment) -> list[str]:
    return [p for c in active(env) for p in c.packages(env)]


def parameter_names(env: Environment) -> list[str]:
    """Every parameter an audit of `env` reads."""
    names = {"shared_preload_libraries", "log_directory", "log_file_mode"}
    for c in CONTROLS:
        names |= set(c.settings(env))
    names |= {"auth_delay.milliseconds", "ssl_min_protocol_version"}
    return sorted(names)


# ---- pg_hba and connection limits, for rendering and the config build ------------------

def superuser_tcp_rejects(env: Environment) -> tuple[HbaRule, ...]:
    """pg_hba rules, first after the built-in local ones, that keep postgres off TCP."""
    return SUPERUSER_TCP_REJECTS if is_active(env, "superuser_local_only") else ()
