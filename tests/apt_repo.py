"""A local apt repository on test hosts holding a newer build of a real package: the newest
build the host's own sources offer, repacked with "+pgstead1" after its version, in a flat
repository every host reads through file:. What a minor upgrade of that package looks like to
apt, without waiting for Debian to publish one."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.hosts import FleetHost, docker

REPO = "/srv/pgstead-test-repo"
SOURCES = "/etc/apt/sources.list.d/pgstead-test-repo.list"

# Run on the first host: needs its package lists (a deploy with upgrade: minor refreshed them).
_REPACK = r"""
set -eu
package=$1 repo=$2
work=$(mktemp -d); cd "$work"
apt-get download -q "$package" >/dev/null
deb=$(ls ./*.deb)
dpkg-deb -R "$deb" tree
version=$(dpkg-deb -f "$deb" Version)
sed -i "s/^Version: .*/Version: $version+pgstead1/" tree/DEBIAN/control
mkdir -p "$repo"
dpkg-deb --root-owner-group -Zgzip -z1 -b tree "$repo/${package}_$version+pgstead1.deb" >/dev/null
cd /; rm -rf "$work"
echo "$version+pgstead1"
"""


def _index(repo: Path) -> None:
    """Packages and Release of a flat repository of the .debs in `repo` (the fields apt reads
    from what dpkg-scanpackages and apt-ftparchive would write)."""
    stanzas = []
    for deb in sorted(repo.glob("*.deb")):
        control = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True,
                                 text=True, check=True).stdout.rstrip()
        body = deb.read_bytes()
        stanzas.append(f"{control}\nFilename: ./{deb.name}\nSize: {len(body)}\n"
                       f"SHA256: {hashlib.sha256(body).hexdigest()}\n")
    packages = "\n".join(stanzas).encode()
    (repo / "Packages").write_bytes(packages)
    (repo / "Release").write_text(
        "Origin: pgstead-test\nLabel: pgstead-test\nSuite: test\nCodename: test\n"
        f"SHA256:\n {hashlib.sha256(packages).hexdigest()} {len(packages)} Packages\n")


def publish_newer(hosts: Sequence[FleetHost], package: str, workdir: Path) -> str:
    """A newer build of `package` in the local repository of every host; its version. The
    repository keeps what earlier calls published."""
    first = hosts[0]
    version = first.exec("sh", "-c", _REPACK, "repack", package, REPO).stdout.strip()
    local = workdir / "repo"
    local.mkdir(exist_ok=True)
    docker("cp", f"{first.container}:{REPO}/.", str(local))
    _index(local)
    for h in hosts:
        h.exec("mkdir", "-p", REPO)
        docker("cp", f"{local}/.", f"{h.container}:{REPO}")
        h.exec("sh", "-c", f"echo 'deb [trusted=yes] file:{REPO} ./' >{SOURCES}")
    return version


def installed(h: FleetHost, package: str) -> str:
    return h.exec("dpkg-query", "-W", "-f", "${Version}", package).stdout.strip()


def postmaster(h: FleetHost, port: int) -> tuple[str, str]:
    """(pid, executable) of the postmaster holding `port`'s socket lock; the executable ends
    in " (deleted)" when a package replaced it since the postmaster started."""
    # As postgres: root in a container may not read another user's /proc/PID/exe.
    out = h.exec("runuser", "-u", "postgres", "--", "sh", "-c",
                 f"pid=$(head -n 1 /var/run/postgresql/.s.PGSQL.{port}.lock); "
                 'echo "$pid"; readlink /proc/$pid/exe').stdout.splitlines()
    return out[0].strip(), out[1].strip()
