"""Facts about native clusters (Debian's postgresql-common) and the host's resources."""

from __future__ import annotations

from dataclasses import dataclass

from pyinfra.api import FactBase, QuoteString, StringCommand

from pgstead.live.host import HostResources


@dataclass(frozen=True)
class ClusterState:
    version: int
    name: str
    port: int
    running: bool
    owner: str
    data_directory: str
    readable: bool = True


# pg_lsclusters stops at the first cluster it cannot read (a configuration without a data
# directory, say), hiding every other cluster; then each one is listed on its own, and one
# that still fails is reported as unreadable instead of as missing.
_LIST_EACH = (
    'for conf in /etc/postgresql/*/*/postgresql.conf; do [ -e "$conf" ] || continue; '
    'dir=${conf%/postgresql.conf}; name=${dir##*/}; version=${dir%/*}; version=${version##*/}; '
    'pg_lsclusters --no-header "$version" "$name" 2>/dev/null '
    '|| echo "$version $name unreadable"; done'
)


class PgClusters(FactBase):
    """Clusters on the host, from `pg_lsclusters` (an empty list before PostgreSQL is installed)."""

    default = list

    def requires_command(self) -> str:
        return "pg_lsclusters"

    def command(self) -> str:
        return f"pg_lsclusters --no-header 2>/dev/null || {{ {_LIST_EACH}; }}"

    def process(self, output: list[str]) -> list[ClusterState]:
        clusters = []
        for line in output:
            fields = line.split()
            if len(fields) == 3 and fields[0].isdigit() and fields[2] == "unreadable":
                clusters.append(ClusterState(int(fields[0]), fields[1], 0, False, "", "",
                                             readable=False))
                continue
            if len(fields) < 6 or not fields[0].isdigit():
                continue
            version, name, port, status, owner, datadir = fields[:6]
            if not port.isdigit():
                # pg_lsclusters prints <unknown> for a cluster whose configuration it cannot
                # read yet (one being created or dropped beside us): unreadable, not a crash.
                clusters.append(ClusterState(int(version), name, 0, False, "", "",
                                             readable=False))
                continue
            clusters.append(ClusterState(int(version), name, int(port),
                                         status.startswith("online"), owner, datadir))
        return clusters


class Resources(FactBase):
    """Memory and CPUs, from /proc and getconf (present on a minimal Debian, unlike vmstat)."""

    def command(self) -> str:
        return "awk '/^MemTotal:/ {print $2}' /proc/meminfo; getconf _NPROCESSORS_ONLN"

    def process(self, output: list[str]) -> HostResources:
        memory_kb, cpus = (int(line.strip()) for line in output[:2])
        return HostResources(memory_kb * 1024, cpus)


class ResolvedPaths(FactBase):
    """Each path with every symlink resolved (`readlink -m`: missing parts are kept as
    written), in order; where a cluster's pg_wal really lives, compared with where it should."""

    default = list

    def command(self, paths: tuple[str, ...]) -> StringCommand:
        return StringCommand("readlink", "-m", "--", *[QuoteString(p) for p in paths])

    def process(self, output: list[str]) -> list[str]:
        return [line.strip() for line in output]
