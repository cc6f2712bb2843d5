"""Operations of a balancer: the package's own HAProxy out of the way."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.facts.deb import DebPackages

from pgstead.facts.endpoints import PACKAGE_PATTERN, PackageHaproxy
from pgstead.facts.ha import BootLinks
from pgstead.operations.plan_notes import plan_note

_STOP = StringCommand("pkill", "-f", f"'{PACKAGE_PATTERN}'", "||", "true")
_DISABLE = StringCommand("update-rc.d", "haproxy", "disable")


@operation()
def package_haproxy_quiet():
    """
    Ensure the HAProxy Debian's package starts on install (with its sample config) neither
    runs nor starts at boot: pgstead's own, under pgstead-supervise, serves the endpoints.

    Run right after the package's installation: when the plan is made before the package is
    there (a fresh host), the package will have started it by the time this runs, so both
    commands are planned.
    """
    if "haproxy" not in host.get_fact(DebPackages):
        plan_note("haproxy", "stop the package's own HAProxy and keep it from starting at boot")
        yield _STOP
        yield _DISABLE
        return
    changes = []
    if host.get_fact(PackageHaproxy):
        changes.append(_STOP)
    if "haproxy" in host.get_fact(BootLinks):
        changes.append(_DISABLE)
    if not changes:
        host.noop("the package's HAProxy neither runs nor starts at boot")
        return
    plan_note("haproxy", *(str(c) for c in changes))
    yield from changes
