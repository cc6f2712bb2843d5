"""The Environment a deploy runs with; a bad file stops the whole run once, exit 2.

pyinfra runs deploy.py for every host at once, each in a greenlet of its own, after it has
connected and before any operation. The first host to be refused prints every problem and
raises SystemExit(2), which gevent hands to the main greenlet: pyinfra disconnects and the
process exits 2. The hosts refused after it end silently (GreenletExit is a normal end to
gevent), so the problems are printed once, no host prints them again, and no traceback
follows (a SystemExit in each greenlet made gevent print one at interpreter shutdown).
"""

from __future__ import annotations

import sys

from gevent import GreenletExit
from pyinfra import host, inventory

from pgstead.config.deploy_env import environment_for, environment_path
from pgstead.config.errors import ConfigError
from pgstead.config.model import Environment

_refused: list[ConfigError] = []


def deployed_environment() -> Environment:
    """This run's Environment, checked against every host of the inventory (with `ha`, the
    cluster's members)."""
    try:
        return environment_for(environment_path(host.data.get("pgstead_env"), sys.argv),
                               hosts=list(inventory))
    except ConfigError as error:
        if _refused:
            raise GreenletExit from None
        _refused.append(error)
        print(error, file=sys.stderr, flush=True)
        raise SystemExit(2) from None
