"""The Docker Compose project of an `install: compose` environment, rendered whole.

One `postgres` service: the data in a named volume, the port published on `compose.bind`,
the superuser password read from a mounted 0600 file (POSTGRES_PASSWORD_FILE, so no value
is ever in compose.yaml or the container's environment), and pgstead's config directory
(TLS files, pg_hba.conf) mounted read-only at /etc/pgstead.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass

import yaml

from pgstead.config.model import Environment

SERVICE = "postgres"
CONTAINER_PORT = 5432
CONTAINER_CONF_DIR = "/etc/pgstead"
CONTAINER_PASSWORD_FILE = "/run/secrets/postgres_password"
CONTAINER_DATA_DIR = "/var/lib/postgresql/data"
SPEC_LABEL = "org.pgstead.spec-sha256"
ENVIRONMENT_LABEL = "org.pgstead.environment"
# Parallel queries use POSIX shared memory in /dev/shm; Docker's 64 MB default is too small.
SHM_SIZE = "256m"

HEADER = "# compose.yaml: managed by pgstead from {source}; edits are overwritten.\n"


@dataclass(frozen=True)
class ComposeLayout:
    """Where a compose project's pieces live, on the host and in Docker."""

    project_dir: str
    project_name: str  # lowercase, as Compose v2 demands
    container: str
    volume: str

    @property
    def compose_file(self) -> str:
        return f"{self.project_dir}/compose.yaml"

    @property
    def env_file(self) -> str:
        return f"{self.project_dir}/.env"

    @property
    def conf_dir(self) -> str:
        """Host side of CONTAINER_CONF_DIR."""
        return f"{self.project_dir}/conf"

    @property
    def secrets_dir(self) -> str:
        return f"{self.project_dir}/secrets"

    @property
    def password_file(self) -> str:
        return f"{self.secrets_dir}/postgres_password"


@dataclass(frozen=True)
class ComposeProject:
    compose_yaml: str
    dot_env: str
    # Digest of everything that decides the container; carried as a label, so a container
    # created from an older project (or a failed `up`) is recognised and re-created.
    spec_sha256: str


def layout_for(env: Environment) -> ComposeLayout:
    if env.compose is None:
        raise ValueError("install: compose needs a compose section")
    slug = re.sub(r"[^a-z0-9_-]", "-", env.name.lower())
    name = f"pgstead-{slug}"
    return ComposeLayout(project_dir=env.compose.project_dir.rstrip("/") or "/",
                         project_name=name, container=name, volume=f"{name}-data")


def published_port(bind: str, port: int) -> str:
    host = f"[{bind}]" if ipaddress.ip_address(bind).version == 6 else bind
    return f"{host}:{port}:{CONTAINER_PORT}"


def initdb_args(env: Environment) -> str:
    args = [f"--locale={env.postgres.locale}"]
    if env.postgres.data_checksums:
        args.insert(0, "--data-checksums")
    return " ".join(args)


def _service(env: Environment, layout: ComposeLayout) -> dict:
    assert env.compose is not None
    return {
        "image": env.compose.image,
        "container_name": layout.container,
        "restart": "unless-stopped",
        "command": ["postgres", "-c", f"hba_file={CONTAINER_CONF_DIR}/pg_hba.conf"],
        "environment": {
            "POSTGRES_PASSWORD_FILE": CONTAINER_PASSWORD_FILE,
            "POSTGRES_INITDB_ARGS": initdb_args(env),
        },
        "ports": [published_port(env.compose.bind, env.postgres.port)],
        "volumes": [
            f"data:{CONTAINER_DATA_DIR}",
            f"{layout.conf_dir}:{CONTAINER_CONF_DIR}:ro",
            f"{layout.password_file}:{CONTAINER_PASSWORD_FILE}:ro",
        ],
        "shm_size": SHM_SIZE,
        # SIGINT is PostgreSQL's fast shutdown; give it time to checkpoint before a SIGKILL.
        "stop_signal": "SIGINT",
        "stop_grace_period": "60s",
        "healthcheck": {
            "test": ["CMD", "pg_isready", "-q", "-h", "127.0.0.1", "-p", str(CONTAINER_PORT)],
            "interval": "2s",
            "timeout": "5s",
            "retries": 30,
            "start_period": "120s",
        },
        "labels": {ENVIRONMENT_LABEL: env.name},
    }


def render_compose(env: Environment) -> ComposeProject:
    """compose.yaml and .env of the environment's project; raises ValueError without one."""
    layout = layout_for(env)
    dot_env = ("# Managed by pgstead: the Compose project name (v1 and v2 read it here).\n"
               f"COMPOSE_PROJECT_NAME={layout.project_name}\n")
    service = _service(env, layout)
    document = {"services": {SERVICE: service},
                "volumes": {"data": {"name": layout.volume}}}
    spec = hashlib.sha256((_dump(document) + dot_env).encode()).hexdigest()
    service["labels"][SPEC_LABEL] = spec
    text = HEADER.format(source=env.source.name) + _dump(document)
    return ComposeProject(compose_yaml=text, dot_env=dot_env, spec_sha256=spec)


def _dump(document: dict) -> str:
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=1000)
