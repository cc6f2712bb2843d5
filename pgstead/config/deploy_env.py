"""Find, load and validate the environment a pyinfra host is deployed with."""

from __future__ import annotations

import sys
from pathlib import Path

from pgstead.config.errors import ConfigError
from pgstead.config.load import load_environment
from pgstead.config.model import Environment

_loaded: dict[Path, Environment] = {}


def environment_path(host_data_value: str | None, argv: list[str]) -> Path:
    """`pgstead_env` host data, else the YAML beside the inventory named on the command line."""
    if host_data_value:
        return Path(host_data_value)
    for arg in argv[1:]:
        candidate = Path(arg)
        if candidate.suffix == ".py" and candidate.with_suffix(".yml").is_file():
            return candidate.with_suffix(".yml")
    raise SystemExit(
        "pgstead: no environment file: pass --data pgstead_env=FILE.yml or use an inventory "
        "with a .yml beside it (inventories/NAME.py + inventories/NAME.yml)"
    )


def environment_for(path: Path) -> Environment:
    """Load and validate once per run; a bad file stops the run, exit 2, before any change."""
    path = path.resolve()
    if path not in _loaded:
        try:
            _loaded[path] = load_environment(path)
        except ConfigError as error:
            print(error, file=sys.stderr)
            raise SystemExit(2) from None
    return _loaded[path]
