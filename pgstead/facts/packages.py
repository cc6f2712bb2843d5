"""The server's packages as a minor upgrade sees them: installed and candidate versions, and
whether the running postmaster and Patroni still run code their packages have since replaced."""

from __future__ import annotations

from pyinfra.api import FactBase, QuoteString, StringCommand

from pgstead.live.packages import PackageVersion, UpgradeState

APT = ("DEBIAN_FRONTEND=noninteractive", "apt-get", "-y", "-q")
# Touched after each `apt-get update` pgstead runs: lists younger than an hour, from sources no
# newer than them, are fresh enough, so one run never refreshes twice.
UPDATE_STAMP = "/var/lib/apt/periodic/pgstead-update-stamp"


def refresh_when_stale() -> StringCommand:
    """`apt-get update`, unless pgstead refreshed the lists within the hour and no apt source
    changed since."""
    fresh = StringCommand(
        "[", "-n", '"$(find', UPDATE_STAMP, "-mmin", "-60", '2>/dev/null)"', "]", "&&",
        "[", "-z", '"$(find', "/etc/apt/sources.list", "/etc/apt/sources.list.d", "-newer",
        UPDATE_STAMP, '2>/dev/null)"', "]",
    )
    update = StringCommand(*APT, "update", "&&", "mkdir", "-p", "/var/lib/apt/periodic", "&&",
                           "touch", UPDATE_STAMP)
    return StringCommand(fresh, "||", "{", update, ";", "}")


# $1 port, $2 Patroni's config ("-" without Patroni), then the package names. For each package
# one line `package NAME INSTALLED CANDIDATE NEWER` ("-" for none, NEWER 1 when dpkg orders
# the candidate after the installed version); then `postmaster stale|current|none` (the
# postmaster holding the port's socket lock runs an executable since deleted, i.e. replaced by
# a package) and `patroni stale|current|none` (Patroni started before patroni.list last
# changed, i.e. before its package was last unpacked).
_SCRIPT = r"""
port=$1; config=$2; shift 2
for p in "$@"; do
  s=$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$p" 2>/dev/null) || s=
  case $s in "installed "*) i=${s#installed };; *) i=;; esac
  c=$(apt-cache policy "$p" 2>/dev/null | sed -n 's/^ *Candidate: //p')
  [ "$c" = "(none)" ] && c=
  n=0
  if [ -n "$i" ] && [ -n "$c" ] && dpkg --compare-versions "$c" gt "$i"; then n=1; fi
  echo "package $p ${i:--} ${c:--} $n"
done
pid=$(head -n 1 "/var/run/postgresql/.s.PGSQL.$port.lock" 2>/dev/null) || pid=
exe=
# As the postmaster's own user: reading another user's /proc/PID/exe needs CAP_SYS_PTRACE,
# which root lacks in a container.
[ -n "$pid" ] && exe=$(runuser -u postgres -- readlink "/proc/$pid/exe" 2>/dev/null)
case $exe in "") echo "postmaster none";; *" (deleted)") echo "postmaster stale";;
  *) echo "postmaster current";; esac
[ "$config" = - ] && exit 0
pid=$(pgrep -o -f "^[^ ]*python[^ ]* /usr/bin/patroni $config") || pid=
if [ -z "$pid" ]; then echo "patroni none"; exit 0; fi
started=$(( $(date +%s) - $(ps -o etimes= -p "$pid") ))
unpacked=$(stat -c %Y /var/lib/dpkg/info/patroni.list 2>/dev/null || echo 0)
if [ "$unpacked" -gt "$started" ]; then echo "patroni stale"; else echo "patroni current"; fi
"""


class ServerPackages(FactBase):
    """`UpgradeState` of `packages` on this host, for the server on `port` (and Patroni run
    with `patroni_config`). With `refresh`, the package lists are brought up to date first
    when stale (as the install role does before installing): a candidate read from lists of
    last month is not "the newest available", and a dry run must see the version the apply
    will install."""

    def command(self, packages: tuple[str, ...], port: int, patroni_config: str | None = None,
                refresh: bool = True) -> StringCommand:
        probe = StringCommand("sh", "-c", QuoteString(_SCRIPT), "pgstead-packages", str(port),
                              QuoteString(patroni_config or "-"),
                              *[QuoteString(p) for p in packages])
        if not refresh:
            return probe
        return StringCommand("{", refresh_when_stale(), ";", "}", ">/dev/null", "2>&1;", probe)

    def process(self, output: list[str]) -> UpgradeState:
        packages = []
        flags = {}
        for line in output:
            words = line.split()
            if words[0] == "package" and len(words) == 5:
                _, name, installed, candidate, newer = words
                packages.append(PackageVersion(name, None if installed == "-" else installed,
                                               None if candidate == "-" else candidate,
                                               newer == "1"))
            elif words[0] in ("postmaster", "patroni") and len(words) == 2:
                flags[words[0]] = words[1] == "stale"
        return UpgradeState(tuple(packages), postmaster_stale=flags.get("postmaster", False),
                            patroni_stale=flags.get("patroni", False))
