"""Operations of a balancer: a package's own daemon out of pgstead's way."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation
from pyinfra.facts.deb import DebPackages

from pgstead.facts.endpoints import PACKAGE_PATTERNS, PackageDaemon
from pgstead.operations.daemon import (
    package_boot_links,
    package_unit_off,
    package_units_off,
    yield_changes,
)
from pgstead.operations.plan_notes import plan_note


@operation()
def package_daemon_quiet(package: str):
    """
    Ensure the daemon Debian's `package` starts on install (with its sample config) neither
    runs nor starts at boot: pgstead's own (pgstead.operations.daemon) does the work.

    + package: ``haproxy`` or ``keepalived`` (its init script has the same name)

    Run right after the package's installation: when the plan is made before the package is
    there (a fresh host), the package may have started it by the time this runs, so both
    commands are planned. With systemd its unit is stopped and disabled through systemctl
    (pgstead.operations.daemon.package_units_off): HAProxy's unit restarts a killed HAProxy.
    """
    units = package_units_off([package])
    if package not in host.get_fact(DebPackages):
        plan_note(package, "stop the package's own daemon and keep it from starting at boot")
        if units is not None:
            yield package_unit_off(package)
            return
        yield StringCommand("pkill", "-f", QuoteString(PACKAGE_PATTERNS[package]), "||", "true")
        yield StringCommand("update-rc.d", QuoteString(package), "disable")
        return
    changes = units if units is not None else _script_changes(package)
    if not changes:
        host.noop(f"the package's {package} neither runs nor starts at boot")
        return
    yield from yield_changes(package, changes)


def _script_changes(package: str) -> list[tuple[str, StringCommand]]:
    """Without systemd: the package's daemon killed where it runs, its init script's boot
    links disabled."""
    pattern = PACKAGE_PATTERNS[package]
    changes = []
    if host.get_fact(PackageDaemon, pattern=pattern):
        changes.append(("stop the package's own daemon",
                        StringCommand("pkill", "-f", QuoteString(pattern), "||", "true")))
    return changes + package_boot_links([package])
