"""Shared fixtures: a per-test environment file with its own cluster, port and state dir."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from tests.clusters import drop_cluster, free_port


class EnvFile:
    """An environment YAML a test can edit and re-apply; its cluster is dropped afterwards."""

    def __init__(self, directory: Path, name: str, port: int, data: dict) -> None:
        self.path = directory / f"{name}.yml"
        self.state_dir = directory / "state"
        self.name = name
        self.port = port
        self.data = data
        self.write()

    def write(self) -> Path:
        self.path.write_text(yaml.safe_dump(self.data, sort_keys=False))
        return self.path


def base_environment(name: str, port: int) -> dict:
    return {
        "name": name,
        "postgres": {
            "version": 15,
            "install": "native",
            "cluster": name,
            "port": port,
            "listen_addresses": ["localhost"],
            "tuning": {"profile": "web", "memory": "2GB", "cpus": 2},
            "settings": {"max_connections": 50, "log_connections": "on"},
        },
        "tls": {"enabled": False, "require": False},
    }


@pytest.fixture
def env_file(tmp_path, request):
    # Unique per test id: modules share test names, and two pytest processes run side by side.
    digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:6]
    stem = request.node.name.lower().replace("test_", "")[:16]
    name = "t" + "".join(c if c.isalnum() else "_" for c in stem) + "_" + digest
    port = free_port()
    env = EnvFile(tmp_path, name, port, base_environment(name, port))
    yield env
    drop_cluster(15, name)


def enable_shop_backups(env: EnvFile, backup_dir: Path, keep: int) -> None:
    """Declare a `shop` database with its owner and nightly verified backups into backup_dir."""
    env.data.update({
        "databases": [{"name": "shop", "owner": "shop_owner", "schemas": ["sales"]}],
        "users": [{"name": "shop_owner", "password": {"generate": True}, "role": "owner",
                   "database": "shop"}],
        "backups": {"enabled": True, "schedule": "0 3 * * *", "dir": str(backup_dir),
                    "databases": "all", "format": "custom", "compression": "zstd",
                    "keep": keep, "verify": True},
    })
    env.write()
    env.backup_dir = backup_dir
