"""The whole check of an environment file that the CLI shows: the file's own checks
(pgstead.config) and the warnings found against what pgstead derives from it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pgstead.config.load import Report, check_file
from pgstead.config.members import InventoryHost
from pgstead.desired.hardening import weakening_warnings


def check_environment(path: str | Path, *, resolve_secrets: bool = True,
                      hosts: Sequence[InventoryHost] | None = None) -> Report:
    """`hosts` (an inventory's) adds the checks of an HA cluster's members."""
    return check_file(path, resolve_secrets=resolve_secrets, derived_checks=(weakening_warnings,),
                      hosts=hosts)
