"""Installed and available package versions on a host, and whether the running daemons still
run the code of a package installed before them, as plain data (filled by
pgstead.facts.packages)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PackageVersion:
    name: str
    installed: str | None  # None: not installed
    candidate: str | None  # what apt would install now (None: no source offers it)
    newer: bool  # candidate > installed, compared by dpkg itself


@dataclass(frozen=True)
class UpgradeState:
    packages: tuple[PackageVersion, ...]
    # The running postmaster's executable was replaced on disk (a package installed since).
    postmaster_stale: bool = False
    # The running Patroni started before its package was last installed.
    patroni_stale: bool = False
