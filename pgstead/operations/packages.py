"""Debian packages, installed only when missing."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation
from pyinfra.facts.deb import DebPackages

_APT = ("DEBIAN_FRONTEND=noninteractive", "apt-get", "-y", "-q")


@operation()
def installed(packages: list[str], refresh: bool = True):
    """
    Ensure Debian packages are installed, without recommends.

    + packages: package names
    + refresh: run ``apt-get update`` first, only when something is missing

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
        yield StringCommand(*_APT, "update")
    yield StringCommand(*_APT, "install", "--no-install-recommends",
                        *[QuoteString(name) for name in missing])
