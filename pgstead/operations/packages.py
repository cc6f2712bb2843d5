"""Debian packages, installed only when missing."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation
from pyinfra.facts.deb import DebPackages

from pgstead.facts.packages import APT, refresh_when_stale

POLICY_RC_D = "/usr/sbin/policy-rc.d"


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
        yield refresh_when_stale()
    install = StringCommand(*APT, "install", "--no-install-recommends",
                            *[QuoteString(name) for name in missing])
    yield without_autostart(install) if no_autostart else install


def without_autostart(install: StringCommand) -> StringCommand:
    """`install` under a policy-rc.d that refuses every start (exit 101), removed afterwards;
    a host's own policy-rc.d is left in charge."""
    return StringCommand(
        "if", "[", "-e", POLICY_RC_D, "];", "then", install, ";", "else",
        "printf", QuoteString("#!/bin/sh\nexit 101\n"), ">", POLICY_RC_D, "&&",
        "chmod", "755", POLICY_RC_D, "&&", "{", install, ";", "rc=$?;", "rm", "-f", POLICY_RC_D,
        ";", "exit", "$rc;", "};", "fi")
