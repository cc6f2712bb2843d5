"""Check postgres.settings against the parameter catalog of the chosen major version."""

from __future__ import annotations

from pgstead.config.findings import Findings
from pgstead.config.raw import section
from pgstead.config.suggest import did_you_mean
from pgstead.postgres import catalog, units

# Parameters other sections of the file own; setting them here would fight those sections.
_OWNED_ELSEWHERE = {
    "port": "use postgres.port",
    "listen_addresses": "use postgres.listen_addresses",
    "ssl": "it follows tls.enabled",
    "ssl_cert_file": "the tls section manages certificates",
    "ssl_key_file": "the tls section manages certificates",
    "ssl_ca_file": "the tls section manages certificates",
    "ssl_min_protocol_version": "use tls.min_protocol",
    "data_directory": "pgstead manages the cluster layout",
    "config_file": "pgstead manages the cluster layout",
    "hba_file": "pgstead manages the cluster layout",
    "ident_file": "pgstead manages the cluster layout",
}


def check_settings(document: dict, findings: Findings) -> None:
    postgres = section(document, "postgres")
    settings = section(document, "postgres", "settings")
    version = postgres.get("version", 15)
    if not settings or version not in catalog.SUPPORTED_MAJORS:
        return
    known = catalog.parameters(version)
    for name, value in settings.items():
        at = ("postgres", "settings", name)
        name = str(name)
        if "." in name:
            continue  # extension or custom parameter (pg_stat_statements.max): not in the catalog
        if name.lower() in _OWNED_ELSEWHERE:
            findings.error(at, f"{name} is not set here: {_OWNED_ELSEWHERE[name.lower()]}")
            continue
        param = known.get(name)
        if param is None:
            hint = did_you_mean(name.lower(), known.keys())
            findings.error(at, f"unknown setting {name!r} for PostgreSQL {version}{hint}")
            continue
        if not param.settable:
            findings.error(at, f"{name} is read-only (internal): it reports how the server "
                           "was built and cannot be set")
            continue
        if name.lower() == "password_encryption" and value != "scram-sha-256":
            findings.error(at, "pgstead uses SCRAM only: password_encryption must be scram-sha-256")
            continue
        if isinstance(value, dict) or value is None:
            continue  # the schema already reported the wrong shape
        try:
            units.parse_for(param, value)
        except units.SettingValueError as exc:
            findings.error(at, str(exc))
