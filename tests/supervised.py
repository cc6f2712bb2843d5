"""Daemons under pgstead-supervise on this machine (no systemd): the running one's pid, and
waiting for a killed one to come back."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pgstead.render.daemon import RUN_DIR


def supervised_pid(daemon: str, exe: str) -> int:
    pid = int(Path(RUN_DIR, f"{daemon}.child").read_text().strip())
    assert os.readlink(f"/proc/{pid}/exe") == exe
    return pid


def comes_back(daemon: str, exe: str, killed: int, seconds: float = 120) -> int:
    """The pid of the daemon that runs again after `killed` died, within a generous deadline
    (the supervisor starts it again a second after it exits)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            pid = supervised_pid(daemon, exe)
            if pid != killed:
                return pid
        except (OSError, ValueError, AssertionError):
            pass  # between two children, or the new one not yet exec'd
        assert time.monotonic() < deadline, f"{daemon} did not come back within {seconds} s"
        time.sleep(0.5)
