"""Find, load and validate the environment a pyinfra host is deployed with.

pyinfra runs deploy.py once per host: the file is loaded and checked once per run, and a
refusal is remembered, so every host after the first gets the same ConfigError without a
second look at the file (roles/environment.py makes that one refusal stop the run once).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pgstead.config.errors import ConfigError, Problem
from pgstead.config.load import load_environment
from pgstead.config.members import inventory_hosts
from pgstead.config.model import Environment

_loaded: dict[Path, Environment | ConfigError] = {}


def environment_path(host_data_value: str | None, argv: list[str]) -> Path:
    """`pgstead_env` host data, else the YAML beside the inventory named on the command line."""
    if host_data_value:
        return Path(host_data_value)
    for arg in argv[1:]:
        candidate = Path(arg)
        if candidate.suffix == ".py" and candidate.with_suffix(".yml").is_file():
            return candidate.with_suffix(".yml")
    raise ConfigError([Problem(
        "pgstead", "", None, "no environment file: pass --data pgstead_env=FILE.yml or use an "
        "inventory with a .yml beside it (inventories/NAME.py + inventories/NAME.yml)")])


def environment_for(path: Path, hosts: Sequence[object] | None = None) -> Environment:
    """The validated Environment of `path`, loaded once per run; raises ConfigError.

    `hosts` are the inventory's pyinfra hosts (name, data, groups): with an `ha` section they
    are the cluster's members, and their count and names are checked with the file.
    """
    path = path.resolve()
    if path not in _loaded:
        try:
            _loaded[path] = load_environment(
                path, hosts=None if hosts is None else inventory_hosts(hosts))
        except ConfigError as error:
            _loaded[path] = error
    loaded = _loaded[path]
    if isinstance(loaded, ConfigError):
        raise loaded
    return loaded
