"""Checks the schema cannot express: cross-references, names, budgets, exposure warnings."""

from __future__ import annotations

from pgstead.config.budget import check_connection_budget
from pgstead.config.endpoints_check import check_endpoints
from pgstead.config.findings import Findings
from pgstead.config.ha_check import check_ha
from pgstead.config.hba_check import check_hba
from pgstead.config.objects_check import check_databases, check_users
from pgstead.config.pooler_check import check_pooler
from pgstead.config.sections_check import (
    check_backups,
    check_compose,
    check_monitoring,
    check_opt_outs,
    check_tls,
    check_wal_directory,
    warn_exposed_without_tls,
)
from pgstead.config.settings_check import check_settings

_CHECKS = (
    check_databases,
    check_users,
    check_compose,
    check_opt_outs,
    check_tls,
    check_hba,
    check_backups,
    check_pooler,
    check_monitoring,
    check_wal_directory,
    check_settings,
    check_ha,
    check_endpoints,
    check_connection_budget,
    warn_exposed_without_tls,
    check_opt_outs,
)


def check_semantics(document: dict, findings: Findings) -> None:
    """Add every semantic error and warning of `document` to `findings`."""
    for path, line, first in findings.positions.duplicates:
        findings.error(path, f"key {path[-1]!r} appears twice in this mapping "
                       f"(first at line {first}); the second would silently win", line)
    for check in _CHECKS:
        check(document, findings)
