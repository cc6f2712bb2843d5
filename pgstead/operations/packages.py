"""Debian packages, installed only when missing."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation
from pyinfra.facts.deb import DebPackages

_APT = ("DEBIAN_FRONTEND=noninteractive", "apt-get", "-y", "-q")
# Touched after each `apt-get update` we run: lists younger than an hour, from sources no newer
# than them, are fresh enough, so one run never refreshes twice.
UPDATE_STAMP = "/var/lib/apt/periodic/pgstead-update-stamp"
POLICY_RC_D = "/usr/sbin/policy-rc.d"


def _refresh_when_stale() -> StringCommand:
    fresh = StringCommand(
        "[", "-n", '"$(find', UPDATE_STAMP, "-mmin", "-60", '2>/dev/null)"', "]", "&&",
        "[", "-z", '"$(find', "/etc/apt/sources.list", "/etc/apt/sources.list.d", "-newer",
        UPDATE_STAMP, '2>/dev/null)"', "]",
    )
    update = StringCommand(*_APT, "update", "&&", "mkdir", "-p", "/var/lib/apt/periodic", "&&",
                           "touch", UPDATE_STAMP)
    return StringCommand(fresh, "||", "{", update, ";", "}")


@operation()
def installed(packages: list[str], refresh: bool = True, no_autostart: bool = False):
    """
    Ensure Debian packages are installed, without recommends.

    + packages: package names
    + refresh: run ``apt-get update`` first, only when something is missing and the package
      lists are older than an hour or than the apt sources
    + no_autostart: keep the packages' maintainer scripts from starting their daemons (a
      policy-rc.d that refuses, for the transaction only, unless the host has its own)

    Unlike ``apt.packages(update=True)``, a host that has everything reports no change,
    whatever the age of its package lists.

    **Example:**

    .. code:: python

        packages.installed(packages=["postgresql-15", "zstd"])
    """
    have = host.get_fact(DebPackages)
    missing = [name for name in packages if name not in have]
    if not missing:
        host.noop(f"installed: {', '.join(packages)}")
        return
    if refresh:
        yield _refresh_when_stale()
    install = StringCommand(*_APT, "install", "--no-install-recommends",
                            *[QuoteString(name) for name in missing])
    yield _without_autostart(install) if no_autostart else install


def _without_autostart(install: StringCommand) -> StringCommand:
    """`install` under a policy-rc.d that refuses every start (exit 101), removed afterwards;
    a host's own policy-rc.d is left in charge."""
    return StringCommand(
        "if", "[", "-e", POLICY_RC_D, "];", "then", install, ";", "else",
        "printf", QuoteString("#!/bin/sh\nexit 101\n"), ">", POLICY_RC_D, "&&",
        "chmod", "755", POLICY_RC_D, "&&", "{", install, ";", "rc=$?;", "rm", "-f", POLICY_RC_D,
        ";", "exit", "$rc;", "};", "fi")
