"""CPU seconds a process (and, for a server, the children it reaps) spent, from /proc.

Wall-clock rates on a shared machine move with everything else running; the CPU a given
process spent per unit of work moves much less, so a benchmark can say where the time goes.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, list[int]]:
    """(ppid, [utime, stime, cutime, cstime]) in clock ticks."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text.rsplit(")", 1)[1].split()  # the command name may hold spaces
    return int(fields[1]), [int(x) for x in fields[11:15]]


def _children(ppid: int) -> dict[int, int]:
    """pid -> utime + stime of each live child of `ppid`."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            parent, times = _stat(int(entry))
        except (FileNotFoundError, ProcessLookupError):
            continue
        if parent == ppid:
            out[int(entry)] = times[0] + times[1]
    return out


def process_seconds(pid: int) -> float:
    """What `pid` itself has spent (user + system)."""
    _, times = _stat(pid)
    return (times[0] + times[1]) / _TICKS


def tree_seconds(pid: int) -> float:
    """What `pid`, its live children and the children it has reaped have spent.

    A child reaped while the tree is read would be counted in neither place, so the children
    are listed before and after reading the parent until both lists agree.
    """
    while True:
        before = _children(pid)
        _, times = _stat(pid)
        after = _children(pid)
        if before.keys() == after.keys():
            return (sum(times) + sum(after.values())) / _TICKS
