"""The Patroni mode: what Patroni, not pgstead, decides on a member.

In this mode Patroni starts and stops PostgreSQL, parameters go to Patroni's dynamic
configuration (cluster-wide) or to the member's own Patroni file (per host) and never through
ALTER SYSTEM, pg_hba.conf is a list in the Patroni file, and whatever writes to the database
(roles, databases, grants) runs on the leader only. The roles ask the `Server` for this; the
paths are in render/ha_layout.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from pgstead.config.members import Member
from pgstead.render.ha_layout import HOST_PROGRAM, PATRONI_CONFIG


@dataclass(frozen=True)
class PatroniNode:
    """This host's member of a Patroni cluster, as the `Server` carries it."""

    scope: str
    member: Member
    config: str = PATRONI_CONFIG

    @property
    def state_command(self) -> tuple[str, ...]:
        return (HOST_PROGRAM, self.config, "state")
