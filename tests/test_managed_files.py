"""managed_files through real pyinfra runs on @local, on paths under a temporary directory:
create, no-change re-apply, content, mode and line changes, absent files, atomic replacement,
a truthful --dry and a secret that never shows."""

from __future__ import annotations

import base64
import json
import pwd
import secrets
from pathlib import Path

import pytest

from pgstead import PROJECT_ROOT
from tests.pgstead_run import Run, pyinfra

DEPLOY = "tests/managed_files_deploy.py"
PROGRAM = PROJECT_ROOT / "pgstead" / "data" / "host" / "pgstead-backup"
SECRET = "pw-" + secrets.token_hex(12)


def run(spec: list[dict], tmp: Path, *args: str) -> Run:
    spec_file = tmp / "spec.json"
    spec_file.write_text(json.dumps(spec))
    result = pyinfra("@local", *args, "--data", f"spec={spec_file}", deploy=DEPLOY)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def planned(spec: list[dict], tmp: Path) -> set[str]:
    """The paths a --dry run says it will change."""
    result = run(spec, tmp, "--dry")
    return {line.split(": ")[1] for line in result.stderr.splitlines()
            if line.strip().startswith("@local: /")}


def owner(path: Path) -> str:
    return pwd.getpwuid(path.stat().st_uid).pw_name


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture
def tree(tmp_path) -> tuple[Path, list[dict]]:
    root = tmp_path / "managed"
    spec = [
        {"kind": "directory", "path": f"{root}/conf", "owner": "postgres", "group": "postgres",
         "mode": "750"},
        {"kind": "file", "path": f"{root}/conf/secret.conf", "content": f"password={SECRET}\n",
         "group": "postgres", "mode": "640"},
        {"kind": "file", "path": f"{root}/conf/raw.bin",
         "content_b64": base64.b64encode(b"\x00\x01\xffno newline").decode()},
        {"kind": "file", "path": f"{root}/conf/program", "source": str(PROGRAM), "mode": "755"},
        {"kind": "line", "path": f"{root}/conf/profile", "line": "umask 077",
         "owner": "postgres", "group": "postgres"},
        {"kind": "absent", "path": f"{root}/conf/old.cron"},
    ]
    return root, spec


def test_creates_directories_files_and_lines(tree, tmp_path):
    root, spec = tree
    run(spec, tmp_path)
    conf = root / "conf"
    assert conf.is_dir() and owner(conf) == "postgres" and mode(conf) == 0o750
    secret = conf / "secret.conf"
    assert secret.read_text() == f"password={SECRET}\n"
    assert owner(secret) == "root" and secret.group() == "postgres" and mode(secret) == 0o640
    assert (conf / "raw.bin").read_bytes() == b"\x00\x01\xffno newline"
    assert (conf / "program").read_bytes() == PROGRAM.read_bytes()
    assert mode(conf / "program") == 0o755
    assert (conf / "profile").read_text() == "umask 077\n"
    assert owner(conf / "profile") == "postgres"


def test_second_apply_changes_nothing(tree, tmp_path):
    root, spec = tree
    assert run(spec, tmp_path).changed == ["Managed files"]
    assert planned(spec, tmp_path) == set()
    assert run(spec, tmp_path).changed == []


def test_changed_content_is_planned_and_replaced_by_a_rename(tree, tmp_path):
    root, spec = tree
    run(spec, tmp_path)
    secret, program = root / "conf/secret.conf", root / "conf/program"
    before = {p: p.stat().st_ino for p in (secret, program)}
    spec[1]["content"] = "password=other\n"
    assert planned(spec, tmp_path) == {str(secret)}
    assert run(spec, tmp_path).changed == ["Managed files"]
    assert secret.read_text() == "password=other\n" and mode(secret) == 0o640
    # A new inode: readers saw the old file or the new one, never a half-written one.
    assert secret.stat().st_ino != before[secret]
    assert program.stat().st_ino == before[program]
    assert sorted(p.name for p in (root / "conf").iterdir()) == [
        "profile", "program", "raw.bin", "secret.conf"]


def test_changed_mode_or_owner_is_fixed_in_place(tree, tmp_path):
    root, spec = tree
    run(spec, tmp_path)
    program = root / "conf/program"
    inode = program.stat().st_ino
    program.chmod(0o777)
    (root / "conf").chmod(0o755)
    assert planned(spec, tmp_path) == {str(program), str(root / "conf")}
    run(spec, tmp_path)
    assert mode(program) == 0o755 and mode(root / "conf") == 0o750
    assert program.stat().st_ino == inode
    assert planned(spec, tmp_path) == set()


def test_line_is_appended_and_the_rest_of_the_file_kept(tree, tmp_path):
    root, spec = tree
    (root / "conf").mkdir(parents=True)
    profile = root / "conf/profile"
    profile.write_text("export EDITOR=vi")  # the admin's, without a final newline
    assert str(profile) in planned(spec, tmp_path)
    run(spec, tmp_path)
    assert profile.read_text() == "export EDITOR=vi\numask 077\n"
    assert run(spec, tmp_path).changed == []


def test_absent_file_is_removed(tree, tmp_path):
    root, spec = tree
    run(spec, tmp_path)
    old = root / "conf/old.cron"
    old.write_text("* * * * * root true\n")
    assert planned(spec, tmp_path) == {str(old)}
    run(spec, tmp_path)
    assert not old.exists()


def test_failed_replacement_leaves_the_old_file_and_no_temporary(tree, tmp_path):
    root, spec = tree
    run(spec, tmp_path)
    spec[1].update(content="password=new\n", owner="no-such-user-pgstead")
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec))
    failed = pyinfra("@local", "--data", f"spec={spec_file}", deploy=DEPLOY)
    assert failed.returncode != 0
    assert (root / "conf/secret.conf").read_text() == f"password={SECRET}\n"
    assert not list((root / "conf").glob("*.pgstead-*"))


def test_secret_content_is_never_printed(tree, tmp_path):
    root, spec = tree
    encoded = base64.b64encode(f"password={SECRET}\n".encode()).decode()
    for args in (("--dry", "-vv"), ("-vv",), ("--dry", "-vv")):
        result = run(spec, tmp_path, *args)
        shown = result.stdout + result.stderr
        assert SECRET not in shown and encoded not in shown
        assert "secret.conf" in shown  # the run did talk about the file
    assert (root / "conf/secret.conf").read_text() == f"password={SECRET}\n"
