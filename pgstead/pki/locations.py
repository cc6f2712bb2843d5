"""Where an environment's certificates live on the controller."""

from __future__ import annotations

from pathlib import Path

from pgstead.config.model import Environment
from pgstead.pki.ca import CA_CERT


def pki_dir(env: Environment) -> Path:
    """The controller directory holding the environment's CA and issued certificates."""
    return env.state_dir / "pki"


def ca_cert_path(env: Environment) -> Path:
    """The CA certificate clients trust: the user's own CA, else the generated one."""
    return env.tls.ca.cert if env.tls.ca else pki_dir(env) / CA_CERT
