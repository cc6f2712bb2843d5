"""Semantic checks of the server-wide sections: compose, tls, backups, exposure."""

from __future__ import annotations

import ipaddress
import posixpath

from pgstead.config.cron import cron_problem
from pgstead.config.findings import Findings
from pgstead.config.raw import by_name, section, strings, text, tls_required

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
# The parameters pgstead derives for WAL archiving; a file setting them itself would fight it.
ARCHIVE_PARAMETERS = ("archive_mode", "archive_command", "archive_library")


def check_compose(document: dict, findings: Findings) -> None:
    install = section(document, "postgres").get("install", "native")
    if install == "compose" and "compose" not in document:
        findings.error(("postgres", "install"), "install: compose needs a compose section "
                       "(compose: {project_dir: /opt/pgstead/NAME, bind: 127.0.0.1})")
    if install == "compose" and section(document, "postgres").get("upgrade", "none") != "none":
        findings.error(("postgres", "upgrade"), "upgrade: minor moves native packages; with "
                       "install: compose the image decides the version (set compose.image "
                       "to the minor you want, or remove upgrade)")
    bind = text(section(document, "compose"), "bind")
    if bind is not None:
        try:
            ipaddress.ip_address(bind)
        except ValueError:
            findings.error(("compose", "bind"), f"expected an IP address such as 127.0.0.1, "
                           f"got {bind!r}")


def check_tls(document: dict, findings: Findings) -> None:
    tls = section(document, "tls")
    if tls.get("enabled") is False and tls.get("require") is True:
        findings.error(("tls", "require"), "tls.require is true but tls.enabled is false: "
                       "enable TLS or set require: false")
    days, renew = tls.get("days", 825), tls.get("renew_before_days", 30)
    if isinstance(days, int) and isinstance(renew, int) and renew >= days:
        findings.error(("tls", "renew_before_days"), f"renew_before_days ({renew}) must be "
                       f"less than days ({days}), or certificates are renewed on every run")


def check_backups(document: dict, findings: Findings) -> None:
    backups = section(document, "backups")
    if backups.get("method") == "pgbackrest" and backups.get("enabled") is not False:
        check_pgbackrest(document, findings)
    schedule = text(backups, "schedule")
    if schedule is not None:
        problem = cron_problem(schedule)
        if problem:
            findings.error(("backups", "schedule"), problem)
    declared = set(by_name(document, "databases"))
    for index, name in strings(backups.get("databases")):
        if name not in declared:
            findings.error(("backups", "databases", index),
                           f"database {name!r} is not declared in databases")


def check_pgbackrest(document: dict, findings: Findings) -> None:
    if section(document, "postgres").get("install", "native") == "compose":
        findings.error(("backups", "method"), "pgbackrest needs a native cluster (its WAL "
                       "archive and restores run on the host); with install: compose use "
                       "method: pg_dump")
    settings = section(document, "postgres", "settings")
    for name in settings:
        if str(name).lower() in ARCHIVE_PARAMETERS:
            findings.error(("postgres", "settings", name), f"{name} is not set here with "
                           "backups.method: pgbackrest: pgstead archives WAL to the stanza "
                           "itself; remove it")
    if isinstance(section(document, "backups").get("databases"), list):
        findings.warning(("backups", "databases"), "pgbackrest backs up the whole cluster: "
                         "the database list is ignored")


def check_monitoring(document: dict, findings: Findings) -> None:
    monitoring = section(document, "monitoring")
    if not monitoring or monitoring.get("exporter") is False:
        return
    if section(document, "postgres").get("install", "native") == "compose":
        findings.error(("monitoring",), "the exporter runs beside a native cluster (Debian's "
                       "prometheus-postgres-exporter on the host); with install: compose remove "
                       "the monitoring section")
    address = text(monitoring, "listen_address")
    if address is not None and address not in LOOPBACK_NAMES and not tls_required(document):
        findings.error(("monitoring", "listen_address"), f"the exporter on {address} serves "
                       "TLS with the server's certificate: it needs tls.enabled and tls.require")


def warn_exposed_without_tls(document: dict, findings: Findings) -> None:
    if tls_required(document):
        return
    listen = section(document, "postgres").get("listen_addresses", ["localhost"])
    addresses = listen.split(",") if isinstance(listen, str) else listen
    if not isinstance(addresses, list):
        return
    exposed = [a.strip() for a in addresses if isinstance(a, str)
               and a.strip() not in LOOPBACK_NAMES]
    if exposed:
        findings.warning(("postgres", "listen_addresses"),
                         f"listening on {', '.join(exposed)} while tls.require is false: "
                         "passwords and data may cross the network unencrypted")
    bind = text(section(document, "compose"), "bind")
    if bind is not None and bind not in LOOPBACK_NAMES:
        findings.warning(("compose", "bind"), f"publishing the port on {bind} while "
                         "tls.require is false: passwords and data may cross the network "
                         "unencrypted")


def check_wal_directory(document: dict, findings: Findings) -> None:
    postgres = section(document, "postgres")
    wal = text(postgres, "wal_directory")
    if wal is None:
        return
    if postgres.get("install", "native") == "compose":
        findings.error(("postgres", "wal_directory"), "wal_directory needs a native cluster "
                       "(pg_createcluster --waldir); a container keeps its WAL in its volume")
        return
    version, cluster = postgres.get("version", 15), postgres.get("cluster", "main")
    data = f"/var/lib/postgresql/{version}/{cluster}"
    where = posixpath.normpath(wal)
    if where == data or where.startswith(data + "/") or data.startswith(where + "/"):
        findings.error(("postgres", "wal_directory"), f"{wal} overlaps the data directory "
                       f"{data}: give a directory on another volume, such as "
                       f"/srv/wal/{version}/{cluster}")


def check_opt_outs(document: dict, findings: Findings) -> None:
    """A control opted out twice (the schema checks names and the required reason)."""
    raw = document.get("hardening") if isinstance(document, dict) else None
    opt_out = raw.get("opt_out") if isinstance(raw, dict) else None
    seen: set[str] = set()
    for index, item in enumerate(opt_out if isinstance(opt_out, list) else []):
        name = item.get("control") if isinstance(item, dict) else None
        if not isinstance(name, str):
            continue
        if name in seen:
            findings.error(("hardening", "opt_out", index, "control"),
                           f"{name} is opted out twice: keep one entry with its reason")
        seen.add(name)
