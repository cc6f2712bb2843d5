"""The forms `pgstead env` prints connection settings in, one function per platform.

Each takes the variables `ConnectionInfo.variables()` gives (masked or not) and returns the
text the platform reads: a Kubernetes Secret manifest, a Compose `env_file`, a Cloud Run
`--env-vars-file`. dotenv, JSON and shell stay in env.py.
"""

from __future__ import annotations

import base64
import re

import yaml

# A Kubernetes object name: a DNS-1123 subdomain.
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
# Values Compose reads the same unquoted, in v1 and v2 (no $, #, quotes or spaces).
_COMPOSE_BARE = re.compile(r"^[A-Za-z0-9_./:@%+,=?&*-]*$")


class FormatError(ValueError):
    """Options a format cannot be rendered with (say, a name Kubernetes would refuse)."""


def k8s_name(name: str) -> str:
    if not _K8S_NAME.match(name):
        raise FormatError(f"{name!r} is not a Kubernetes object name (lower-case letters, "
                          "digits, '-' and '.', starting and ending with a letter or digit)")
    return name


def kubernetes_secret(variables: dict[str, str], name: str, namespace: str | None,
                      files: dict[str, bytes] | None = None) -> str:
    """A v1 Secret whose data holds each variable (and each file, such as the CA), base64
    encoded as the API stores them; `envFrom: secretRef` hands them to a pod."""
    metadata = {"name": k8s_name(name)}
    if namespace:
        metadata["namespace"] = k8s_name(namespace)
    data = {key: base64.b64encode(value.encode()).decode() for key, value in variables.items()}
    data.update({key: base64.b64encode(content).decode()
                 for key, content in (files or {}).items()})
    document = {"apiVersion": "v1", "kind": "Secret", "metadata": metadata,
                "type": "Opaque", "data": data}
    return yaml.safe_dump(document, sort_keys=False)


def _compose_value(value: str) -> str:
    if _COMPOSE_BARE.match(value):
        return value
    if "'" not in value and "\n" not in value:
        return f"'{value}'"  # literal in Compose v1 and v2: no escapes, no interpolation
    # Double quotes: Compose unescapes \\ and \". (v1 never interpolates an env_file; v2
    # would expand a $ here, which only a value holding both ' and $ can reach.)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def compose_env_file(variables: dict[str, str]) -> str:
    """An `env_file:` for the app's service in the same Compose project."""
    return "\n".join(f"{key}={_compose_value(value)}" for key, value in variables.items())


def cloud_run_env_vars(variables: dict[str, str]) -> str:
    """A YAML map of strings for `gcloud run deploy --env-vars-file` (every value a string:
    PyYAML quotes those that would read back as numbers or booleans)."""
    return yaml.safe_dump({key: str(value) for key, value in variables.items()},
                          sort_keys=False, allow_unicode=True)
