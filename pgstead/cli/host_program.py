"""Run pgstead's host programs (pgstead-backup, pgstead-restore) with an environment's config
and read what they print: one JSON object per stdout line, errors on stderr."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from pgstead.cli.hosts import HostOutput
from pgstead.render.cron import backup_config_path

# How the programs write an error line: "<time> <program>[<pid>]: error: <message>".
_ERROR_LINE = re.compile(r"^\S+ pgstead-[a-z]+\[\d+\]: error: (.*)$")
NOT_INSTALLED_EXIT = 127


def program_command(program: str, env_name: str, *args: str) -> str:
    """A shell command running `program --config <env's config> ARGS`; where the program is
    missing (no apply with backups enabled yet) it says so instead of a bare shell error."""
    argv = shlex.join([program, "--config", backup_config_path(env_name), *args])
    missing = shlex.quote(f"{program} is not installed: apply the environment with "
                          "backups.enabled: true first")
    return (f"if [ -x {shlex.quote(program)} ]; then exec {argv}; fi; "
            f"echo {missing} >&2; exit {NOT_INSTALLED_EXIT}")


def json_lines(lines: list[str]) -> list[dict[str, Any]]:
    """The JSON objects among a program's stdout lines, in order."""
    found = []
    for line in lines:
        line = line.strip()
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return found


def error_message(output: HostOutput) -> str:
    """What went wrong, in the program's own words: its error lines without time and pid."""
    errors = [m.group(1) for m in map(_ERROR_LINE.match, output.stderr_lines) if m]
    if errors:
        return "; ".join(errors)
    other = [line.strip() for line in output.stderr_lines if line.strip()]
    return "; ".join(other[-5:]) or "it failed and printed no message"
