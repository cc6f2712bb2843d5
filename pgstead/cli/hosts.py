"""Reach an inventory's hosts the way a deploy does and run one command on a host.

pyinfra's own connectors carry the inventory's SSH settings and its `_sudo` / `_su_user` host
data, so a CLI command reaches a host exactly as `pyinfra INVENTORY deploy.py` would.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pyinfra.api import Config, Host, State, StringCommand
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS, pop_global_arguments
from pyinfra.api.exceptions import ConnectError
from pyinfra.context import ctx_state

from pgstead.config.members import ABSENT, member_state

LOCAL_INVENTORY = "@local"


def default_inventory(env_file: str | Path) -> str:
    """The inventory beside an environment file (NAME.py next to NAME.yml, as deploy.py pairs
    them), else this machine."""
    beside = Path(env_file).with_suffix(".py")
    return str(beside) if beside.is_file() else LOCAL_INVENTORY


class HostUnreachable(Exception):
    """The connector could not reach the host; the message says which host and why."""


@dataclass(frozen=True)
class HostOutput:
    ok: bool  # the command exited 0
    stdout_lines: list[str]
    stderr_lines: list[str]


class InventoryHosts:
    """The hosts of one loaded inventory, each connected on first use."""

    def __init__(self, state: State) -> None:
        self._state = state

    @property
    def names(self) -> list[str]:
        """The hosts to read, in inventory order; not those marked `state: absent` (members
        being removed from a cluster: stopped, and no longer part of it)."""
        return [host.name for host in self._state.inventory
                if member_state(host.data) != ABSENT]

    def _host(self, name: str) -> Host:
        for host in self._state.inventory:
            if host.name == name:
                return host
        raise KeyError(name)

    def run(self, name: str, command: str) -> HostOutput:
        """Run a shell command on host `name` with the host's connector settings (sudo etc.).

        The command must already be quoted for a shell. Raises HostUnreachable.
        """
        host = self._host(name)
        if not host.connected:
            try:
                host.connect(show_errors=False, raise_exceptions=True)
            except ConnectError as error:
                raise HostUnreachable(f"cannot reach host {name}: {error}") from None
        # The same defaults a fact gets: the host's data, then the config.
        arguments, _ = pop_global_arguments(self._state, host, {})
        connector_arguments = {key: value for key, value in arguments.items()
                               if key in CONNECTOR_ARGUMENT_KEYS}
        ok, output = host.run_shell_command(StringCommand(command), **connector_arguments)
        return HostOutput(ok, output.stdout_lines, output.stderr_lines)


@contextmanager
def inventory_hosts(inventory: str) -> Iterator[InventoryHosts]:
    """Load a pyinfra inventory (a file, `@local`, or a host name); disconnect afterwards."""
    state = State()
    # pyinfra's inventory files run inside a pyinfra state, as under its own CLI.
    with ctx_state.use(state):
        # Importing pyinfra's CLI package patches the whole process with gevent: only here,
        # where pyinfra's connectors need it, not whenever this module is imported.
        from pyinfra_cli.inventory import make_inventory

        state.init(make_inventory(inventory, cwd=os.getcwd()), Config())
        try:
            yield InventoryHosts(state)
        finally:
            for host in state.inventory:
                if host.connected:
                    host.disconnect()
