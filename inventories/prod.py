"""Example SSH inventory: two database VMs, deployed with inventories/prod.yml.

    pyinfra inventories/prod.py deploy.py

Log in as a sudo user with `_sudo`: pyinfra then needs the `acl` package on the host for
uploads as another user (pgstead's install role installs it).
"""

from pathlib import Path

_env = {"pgstead_env": str(Path(__file__).with_suffix(".yml"))}
_ssh = {"ssh_user": "deploy", "_sudo": True}

db_servers = [
    ("db1.example.com", {**_env, **_ssh}),
    ("db2.example.com", {**_env, **_ssh}),
]
