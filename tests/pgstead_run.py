"""Run the real pyinfra CLI on deploy.py and read what it did (its --json report)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYINFRA = str(Path(sys.executable).parent / "pyinfra")


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    report: dict | None

    @property
    def changed(self) -> list[str]:
        """Names of operations that changed something (apply) or will (dry run)."""
        if self.report is None:
            return []
        if self.report.get("results"):
            return [op["name"] for op in self.report["results"]["operations"] if op["success"]]
        return [op["name"] for op in self.report["plan"] if op["hosts_with_change"]]

    @property
    def failed(self) -> list[str]:
        if not self.report or not self.report.get("results"):
            return []
        return [op["name"] for op in self.report["results"]["operations"] if op["error"]]


def pyinfra(inventory: str, *args: str, env_file: Path | None = None,
            state_dir: Path | None = None, json_report: bool = True,
            extra_env: dict[str, str] | None = None, deploy: str = "deploy.py") -> Run:
    """pyinfra INVENTORY DEPLOY (deploy.py), non-interactive, from the project root.

    A dry run goes without -y: pyinfra skips change detection under --yes, so
    `--dry -y` would plan nothing.
    """
    yes = [] if "--dry" in args else ["-y"]
    cmd = [PYINFRA, *yes, inventory, deploy, *args]
    if json_report:
        cmd.insert(1, "--json")
    if env_file is not None:
        cmd += ["--data", f"pgstead_env={env_file}"]
    environ = dict(os.environ)
    if state_dir is not None:
        environ["PGSTEAD_STATE_DIR"] = str(state_dir)
    environ.update(extra_env or {})
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=environ,
                          timeout=900)
    report = None
    if json_report and proc.stdout.strip().startswith("{"):
        report = json.loads(proc.stdout)
    return Run(proc.returncode, proc.stdout, proc.stderr, report)


def apply(env_file: Path, state_dir: Path, *args: str, **kw) -> Run:
    run = pyinfra("@local", *args, env_file=env_file, state_dir=state_dir, **kw)
    assert run.returncode == 0, f"apply failed:\n{run.stdout[-4000:]}\n{run.stderr[-6000:]}"
    return run


def dry(env_file: Path, state_dir: Path, **kw) -> Run:
    run = pyinfra("@local", "--dry", env_file=env_file, state_dir=state_dir, **kw)
    assert run.returncode == 0, f"dry run failed:\n{run.stdout[-4000:]}\n{run.stderr[-6000:]}"
    return run


def run_deploy_file(text: str, directory: Path) -> subprocess.CompletedProcess:
    """pyinfra -y @local on a test's own deploy file (`text`), with pgstead importable."""
    deploy = directory / "test_deploy.py"
    deploy.write_text(text)
    return subprocess.run([PYINFRA, "-y", "@local", str(deploy)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT),
                                                                            *sys.path])})
