"""A pyinfra inventory loaded and connected outside pyinfra's CLI, for commands that read hosts."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from pyinfra.api import Config, State
from pyinfra.api.connect import connect_all, disconnect_all
from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import ctx_state

from pgstead.config.members import InventoryHost, inventory_hosts


@contextlib.contextmanager
def connected_inventory(inventory: str) -> Iterator[State]:
    """The inventory's hosts connected with a deploy's own settings (SSH, sudo).

    A host that could not be reached is left out of `state.activated_hosts`; callers report it.
    """
    state = State()
    # pyinfra's inventory files run inside a pyinfra state, as under its own CLI.
    with ctx_state.use(state):
        # Importing pyinfra's CLI package patches the whole process with gevent: only here,
        # where pyinfra's connectors need it, not whenever this module is imported.
        from pyinfra_cli.inventory import make_inventory

        state.init(make_inventory(inventory, cwd=os.getcwd()), Config())
        with contextlib.suppress(PyinfraError):  # all failed: each is reported unreachable
            connect_all(state)
        try:
            yield state
        finally:
            disconnect_all(state)


def inventory_hosts_of(inventory: str) -> tuple[InventoryHost, ...]:
    """The hosts a pyinfra inventory lists (names, member addresses), connecting to none."""
    state = State()
    with ctx_state.use(state):
        from pyinfra_cli.inventory import make_inventory  # gevent patching: see above

        return inventory_hosts(list(make_inventory(inventory, cwd=os.getcwd())))
