"""Reads of systemd on a test host booted by it (tests/images/systemd): a unit's state, its
main process, and what listens on a port."""

from __future__ import annotations

from tests.hosts import FleetHost, docker


def unit(h: FleetHost, name: str) -> dict[str, str]:
    """ActiveState, UnitFileState, MainPID and NRestarts of `name` (`systemctl show`)."""
    out = h.exec("systemctl", "show", name, "--property",
                 "ActiveState,UnitFileState,MainPID,NRestarts,LoadState").stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def active_and_enabled(h: FleetHost, name: str) -> bool:
    state = unit(h, name)
    return state.get("ActiveState") == "active" and state.get("UnitFileState") == "enabled"


def main_pid(h: FleetHost, name: str) -> int:
    return int(unit(h, name).get("MainPID") or 0)


def unit_of(h: FleetHost, pid: int) -> str:
    """The systemd unit a process runs in, from its cgroup (`name=systemd` hierarchy on cgroup
    v1, the unified one on v2)."""
    for line in h.exec("cat", f"/proc/{pid}/cgroup").stdout.splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers in ("name=systemd", ""):
            return path.rstrip("/").rsplit("/", 1)[-1]
    return ""


# The pids of processes listening on a TCP port, from /proc (the images have no ss); 0 for a
# listening socket of no process this user may look into (root in a container lacks
# CAP_SYS_PTRACE: it cannot read other users' fds, so the script runs as the daemon's user).
_LISTENERS = r"""
import os, sys
port = int(sys.argv[1])
inodes = set()
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    for row in open(table).read().splitlines()[1:]:
        f = row.split()
        if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
            inodes.add(f[9])
seen = set()
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        links = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    except OSError:
        continue
    held = {link[8:-1] for link in links if link.startswith("socket:[")} & inodes
    if held:
        seen |= held
        print(pid)
if inodes - seen:
    print(0)
"""


def listeners(h: FleetHost, port: int, user: str) -> set[int]:
    """The pids of processes listening on TCP `port` (any address), looked for as `user`; 0
    stands for a listener of another user's."""
    out = docker("exec", "--user", user, h.container, "python3", "-c", _LISTENERS,
                 str(port)).stdout
    return {int(line) for line in out.split()}


def supervise_leftovers(h: FleetHost) -> str:
    """Anything of pgstead-supervise on the host: its processes and its boot records."""
    procs = h.exec("pgrep", "-af", "pgstead-supervise", check=False).stdout.strip()
    records = h.exec("sh", "-c", "ls /etc/pgstead/supervise 2>/dev/null || true").stdout.strip()
    return "\n".join(x for x in (procs, records) if x)
