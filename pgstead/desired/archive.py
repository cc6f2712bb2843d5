"""Server parameters that archive WAL into the pgBackRest stanza (backups.method: pgbackrest)."""

from __future__ import annotations

import shlex

from pgstead.config.model import Environment
from pgstead.render.pgbackrest import stanza_name, uses_pgbackrest


def archive_settings(env: Environment) -> dict[str, str]:
    """Server parameters that push every finished WAL segment into the stanza's repository."""
    if not uses_pgbackrest(env):
        return {}
    stanza = shlex.quote(stanza_name(env))
    return {"archive_mode": "on",
            "archive_command": f"pgbackrest --stanza={stanza} archive-push %p"}
