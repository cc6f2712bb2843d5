"""A password rotation leaks neither the password nor its verifier: output, command lines, log."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from pgstead.postgres import scram
from tests.clusters import sql
from tests.pgstead_run import apply, pyinfra
from tests.test_access import access_data, passwords

ROTATED = "rotated-Secret-7f3e-on-stdin-only"


@pytest.fixture
def logged_env(env_file):
    """The access environment with every statement logged, converged once."""
    env_file.data.update(access_data(env_file.port))
    env_file.data["postgres"]["settings"].update(
        {"log_statement": "all", "log_min_duration_statement": "0"})
    env_file.write()
    apply(env_file.path, env_file.state_dir, extra_env=passwords())
    return env_file


def stored_verifier(env_file, role: str = "app-user") -> str:
    return sql(env_file.port, f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'")


def secrets_of(verifier: str) -> list[str]:
    """The rotated password, every part of its verifier, and digests of it: anything that would
    let someone reading the output test password guesses offline."""
    parsed = scram.parse(verifier)
    assert parsed is not None and scram.verifies(verifier, ROTATED)
    stored_key, server_key = verifier.rsplit("$", 1)[1].split(":")
    digests = [hashlib.new(kind, verifier.encode()).hexdigest() for kind in ("sha256", "md5")]
    return [ROTATED, verifier, stored_key, server_key, parsed.stored_key.hex(),
            parsed.server_key.hex(), *digests]


def assert_absent(haystack: str, needles: list[str], where: str) -> None:
    for needle in needles:
        assert needle not in haystack, f"{where} shows a secret ({needle[:6]}...)"


def run_verbose(env_file, password: str, *flags: str) -> str:
    run = pyinfra("@local", "-vvv", *flags, env_file=env_file.path,
                  state_dir=env_file.state_dir, json_report=False,
                  extra_env=passwords({"T_RW_PW": password}))
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout + run.stderr


def test_rotation_output_at_every_verbosity_shows_no_secret(logged_env):
    rotation = run_verbose(logged_env, ROTATED, "--diff")
    assert "Login roles on" in rotation
    # The run after a rotation checks the stored verifier against the same password: the
    # very moment a careless check would print it.
    unchanged = run_verbose(logged_env, ROTATED, "--debug")
    assert "PasswordsMatch" in unchanged  # the check ran, and printed only placeholders
    assert_absent(rotation + unchanged, secrets_of(stored_verifier(logged_env)),
                  "pyinfra -vvv --diff / --debug")
    away = run_verbose(logged_env, ROTATED + "-2", "--debug")
    assert_absent(away, [ROTATED + "-2", stored_verifier(logged_env)], "pyinfra --debug")


class CommandLineSampler(threading.Thread):
    """Reads every process's command line every few milliseconds until stopped."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.seen: set[str] = set()
        self.rounds = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if raw:
                    self.seen.add(raw.replace(b"\0", b" ").decode("utf-8", "replace"))
            self.rounds += 1
            time.sleep(0.002)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def test_rotation_puts_no_secret_on_any_command_line(logged_env):
    sampler = CommandLineSampler()
    sampler.start()
    try:
        run = apply(logged_env.path, logged_env.state_dir,
                    extra_env=passwords({"T_RW_PW": ROTATED}))
    finally:
        sampler.stop()
    assert run.changed == [f"PostgreSQL access | Login roles on 15/{logged_env.name}:"
                           f"{logged_env.port}"]
    assert sampler.rounds > 20
    assert any("psql" in line for line in sampler.seen), "the sampler saw no psql run"
    assert_absent("\n".join(sampler.seen), secrets_of(stored_verifier(logged_env)),
                  "a process command line")


def server_log(env_file) -> Path:
    """The file the server logs to now: the collector's current file if it runs, else the
    stderr file Debian's pg_ctlcluster keeps."""
    current = sql(env_file.port, "SELECT coalesce(pg_current_logfile(), '')")
    if not current:
        return Path(f"/var/log/postgresql/postgresql-15-{env_file.name}.log")
    return Path(sql(env_file.port, "SHOW data_directory")) / current


class LogSince:
    """What the server logs from now on. The logging collector writes a statement's line after
    the statement has returned (seconds later on a busy machine), so `read` runs a marker
    statement and waits until its line is in the files; every file of the log directory is
    read, so a rotation in between loses nothing."""

    def __init__(self, env_file) -> None:
        self.env_file = env_file
        self.directory = server_log(env_file).parent
        self.sizes = self._sizes()

    def _sizes(self) -> dict[Path, int]:
        return {p: p.stat().st_size for p in self.directory.iterdir() if p.is_file()}

    def _written(self) -> str:
        parts = []
        for path, size in sorted(self._sizes().items()):
            start = self.sizes.get(path, 0)
            with path.open("rb") as f:
                f.seek(start if size >= start else 0)  # truncated on rotation: all of it is new
                parts.append(f.read().decode("utf-8", "replace"))
        return "".join(parts)

    def read(self, marker: str) -> str:
        sql(self.env_file.port, f"SELECT '{marker}'")
        deadline = time.monotonic() + 120
        while marker not in (written := self._written()):
            assert time.monotonic() < deadline, f"{marker!r} never reached the server log"
            time.sleep(0.2)
        return written


def test_rotation_leaves_no_secret_in_the_server_log(logged_env):
    log = LogSince(logged_env)
    apply(logged_env.path, logged_env.state_dir, extra_env=passwords({"T_RW_PW": ROTATED}))
    # A statement of ours after the rotation: once its line is there, so is everything before.
    written = log.read("pgstead-leak-test-marker")
    assert "json_build_object" in written  # the facts' queries were logged: logging was on
    assert_absent(written, secrets_of(stored_verifier(logged_env)), "the server log")
    assert "ALTER ROLE" not in written
