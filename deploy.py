"""pgstead: make each host match its environment YAML.

    pyinfra inventories/prod.py deploy.py
    pyinfra -y @local deploy.py --data pgstead_env=path/to/env.yml
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from roles.access import access  # noqa: E402
from roles.backups import backups  # noqa: E402
from roles.cluster import cluster  # noqa: E402
from roles.compose import compose  # noqa: E402
from roles.endpoints import endpoints, virtual_address  # noqa: E402
from roles.environment import deployed_environment  # noqa: E402
from roles.ha import consensus, patroni  # noqa: E402
from roles.hardening import hardening  # noqa: E402
from roles.install import install  # noqa: E402
from roles.members import leaving, removed_member  # noqa: E402
from roles.monitoring import monitoring  # noqa: E402
from roles.pitr import pitr_files  # noqa: E402
from roles.pooler import pooler  # noqa: E402
from roles.settings import settings  # noqa: E402
from roles.tls import tls  # noqa: E402
from roles.upgrade import upgrade  # noqa: E402

env = deployed_environment()

if leaving():
    # A member marked state: absent: stopped and removed, before any other host changes.
    removed_member(env)
else:
    install(env)
    compose(env)
    cluster(env)
    consensus(env)
    hardening(env)
    tls(env)
    pitr_files(env)
    patroni(env)
    endpoints(env)
    virtual_address(env)
    upgrade(env)
    settings(env)
    access(env)
    pooler(env)
    monitoring(env)
    backups(env)
