"""Operations of a balancer: a package's own daemon out of pgstead's way."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation
from pyinfra.facts.deb import DebPackages

from pgstead.facts.endpoints import PACKAGE_PATTERNS, PackageDaemon
from pgstead.facts.ha import BootLinks
from pgstead.operations.plan_notes import plan_note


@operation()
def package_daemon_quiet(package: str):
    """
    Ensure the daemon Debian's `package` starts on install (with its sample config) neither
    runs nor starts at boot: pgstead's own (pgstead.operations.daemon) does the work.

    + package: ``haproxy`` or ``keepalived`` (its init script has the same name)

    Run right after the package's installation: when the plan is made before the package is
    there (a fresh host), the package may have started it by the time this runs, so both
    commands are planned.
    """
    pattern = PACKAGE_PATTERNS[package]
    stop = StringCommand("pkill", "-f", QuoteString(pattern), "||", "true")
    disable = StringCommand("update-rc.d", QuoteString(package), "disable")
    if package not in host.get_fact(DebPackages):
        plan_note(package, "stop the package's own daemon and keep it from starting at boot")
        yield stop
        yield disable
        return
    changes = []
    if host.get_fact(PackageDaemon, pattern=pattern):
        changes.append(stop)
    if package in host.get_fact(BootLinks):
        changes.append(disable)
    if not changes:
        host.noop(f"the package's {package} neither runs nor starts at boot")
        return
    plan_note(package, *(str(c) for c in changes))
    yield from changes
