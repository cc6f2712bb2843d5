"""Every broken file in tests/bad_inputs is refused by the real CLI at the right path and line.

Each file names its one defect in a header:
    # defect: what is wrong
    # expect: users[1].role @ line 18      (path may be empty for whole-file problems)
    # message: a fragment the output must contain
    # inventory: @local                    (optional: validated against this inventory's
                                            hosts, as a deploy to it does)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BAD_INPUTS = sorted((ROOT / "tests" / "bad_inputs").glob("*.yml"))
_EXPECT = re.compile(r"^# expect: (?P<path>\S*) @ line (?P<line>\d+)$", re.M)
_MESSAGE = re.compile(r"^# message: (?P<message>.+)$", re.M)
_INVENTORY = re.compile(r"^# inventory: (?P<inventory>\S+)$", re.M)


@dataclass(frozen=True)
class Expectation:
    path: str
    line: int
    message: str
    inventory: str | None = None


def expectation(file: Path) -> Expectation:
    header = file.read_text(encoding="utf-8")
    expect, message = _EXPECT.search(header), _MESSAGE.search(header)
    assert expect and message, f"{file.name} lacks its '# expect:' / '# message:' header"
    inventory = _INVENTORY.search(header)
    return Expectation(expect["path"], int(expect["line"]), message["message"],
                       inventory["inventory"] if inventory else None)



def test_corpus_is_large_enough():
    assert len(BAD_INPUTS) >= 30


@pytest.mark.parametrize("file", BAD_INPUTS, ids=[f.stem for f in BAD_INPUTS])
def test_bad_file_is_refused_at_its_path_and_line(file: Path, tmp_path: Path):
    expected = expectation(file)
    environ = {k: v for k, v in os.environ.items() if k != "PGSTEAD_TEST_UNSET_VARIABLE"}
    result = subprocess.run(
        [sys.executable, "-m", "pgstead.cli", "validate", str(file),
         *(["--inventory", expected.inventory] if expected.inventory else [])],
        capture_output=True, text=True, timeout=60, check=False,
        env={**environ, "PYTHONPATH": str(ROOT), "PGSTEAD_STATE_DIR": str(tmp_path)},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    where = f"{file}:{expected.line}: {expected.path}: " if expected.path else (
        f"{file}:{expected.line}: ")
    assert where in output, f"expected {where!r} in:\n{output}"
    assert expected.message in output, output
    assert "Traceback" not in output
    assert not list(tmp_path.iterdir()), "a refused file must not create state"
