"""Run a child process and measure it: wall time and the child's own peak memory.

The peak resident size comes from wait4(2) on that one child (ru_maxrss of its rusage), so
concurrent children of the benchmark never mix into each other's numbers.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_mb: float  # of the child and its largest descendant (Linux ru_maxrss semantics)
    returncode: int
    stdout: str
    stderr: str


def run_measured(cmd: Sequence[str], *, cwd: Path | None = None,
                 env: dict[str, str] | None = None, stdin: str | None = None,
                 timeout: float = 3600) -> Measured:
    """Run `cmd` to completion, its output in temporary files (no pipe can stall it)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
            tempfile.TemporaryFile("w+") as inp:
        if stdin is not None:
            inp.write(stdin)
            inp.seek(0)
        started = time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=out, stderr=err,
                                stdin=inp if stdin is not None else subprocess.DEVNULL)
        # A blocking wait4 returns the moment the child ends; the timer only kills a hung one.
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        return Measured(seconds, usage.ru_maxrss / 1024, proc.returncode, out.read(), err.read())


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
