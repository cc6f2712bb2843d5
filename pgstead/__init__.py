"""pgstead: declarative PostgreSQL provisioning on pyinfra."""

from pathlib import Path

# The project checkout: schemas/ and sql/ live beside the package.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
