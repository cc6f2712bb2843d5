"""Where benchmark numbers go: a timestamped JSON per run and the latest table per benchmark.

bench/results/ is git-ignored except latest.md, which holds one section per benchmark
(replaced in place by the next run of that benchmark), so the committed tables stay current.
"""

from __future__ import annotations

import json
import platform
import re
import subprocess
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent.parent
RESULTS_DIR = BENCH_DIR / "results"
LATEST = RESULTS_DIR / "latest.md"


def machine() -> dict[str, Any]:
    """What the numbers were measured on: they mean little without it."""
    load = Path("/proc/loadavg").read_text().split()[:3]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=BENCH_DIR,
                            capture_output=True, text=True).stdout.strip()
    return {
        "host": platform.node(),
        "cpus": len(Path("/proc/cpuinfo").read_text().split("processor\t:")) - 1,
        "python": platform.python_version(),
        "loadavg_at_start": load,
        "commit": commit,
    }


def write_json(name: str, data: dict[str, Any]) -> Path:
    """bench/results/<name>-<UTC timestamp>.json"""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def update_latest(name: str, markdown: str) -> Path:
    """Replace (or add) the section of `name` in bench/results/latest.md."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    section = f"{start}\n{markdown.strip()}\n{end}"
    text = LATEST.read_text() if LATEST.exists() else "# Latest benchmark tables\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    LATEST.write_text(text)
    return LATEST
