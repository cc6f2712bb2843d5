"""Minor upgrades of the server's packages: on a single server, install and restart; in a
Patroni cluster, one member at a time, replicas first, then a switchover, then the old leader.

pyinfra runs an operation on every host before the next one. `member_upgraded` is called twice
by the role: for the replicas with ``_serial=True`` (host after host, each back and streaming
before the next one goes down), then for the leader, which hands its role to an upgraded
replica first. Each call reads the member's role and packages when it runs, so the plan made
before the apply names the same hosts the apply changes.
"""

from __future__ import annotations

from collections.abc import Iterator

from pyinfra import host, logger
from pyinfra.api import OperationError, QuoteString, StringCommand, operation

from pgstead.desired.upgrade import PATRONI, Upgrade, plan_upgrade
from pgstead.facts.ha import PatroniState
from pgstead.facts.packages import APT, ServerPackages
from pgstead.operations.daemon import restart_command
from pgstead.operations.packages import without_autostart
from pgstead.operations.plan_notes import plan_note
from pgstead.render.daemon import DaemonSpec
from pgstead.render.ha_layout import HOST_PROGRAM, OPS_PROGRAM
from pgstead.server.patroni import PatroniNode
from pgstead.server.psql import Server

WAIT_SECONDS = 600


def _install(upgrade: Upgrade) -> StringCommand:
    """The exact versions the plan named (not "whatever is newest by then"), upgrades only,
    under a policy-rc.d: Debian's postgresql prerm would stop every cluster of the major and
    its postinst start them; pgstead restarts the one it runs, when it chooses."""
    install = StringCommand(
        *APT, "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
        "install", "--only-upgrade", "--no-install-recommends",
        *[QuoteString(f"{name}={new}") for name, _, new in upgrade.moves])
    return without_autostart(install)


@operation()
def server_upgraded(server: Server, packages: list[str], restart_policy: str = "auto"):
    """
    Ensure a single server's packages are at the newest version its apt sources offer and the
    server runs their binaries (a restart under ``restart_policy: auto``).

    + server: the native server on this host
    + packages: the packages that follow (``desired.upgrade.upgrade_packages``)
    + restart_policy: ``never`` installs and warns that the server still runs the old binaries

    **Example:**

    .. code:: python

        upgrade.server_upgraded(server=server, packages=["postgresql-15"])
    """
    upgrade = plan_upgrade(host.get_fact(ServerPackages, packages=tuple(packages),
                                         port=server.port))
    restart = upgrade.restart is not None and restart_policy == "auto"
    if not upgrade.moves and not restart:
        if upgrade.restart:
            logger.warning(f"{host.name}: {server} runs binaries older than its packages "
                           "(restart_policy: never, not restarting)")
        host.noop(f"{', '.join(packages)} at the newest available version")
        return
    plan_note(server, *(upgrade.describe() if restart
                        else [f"{n} {o} -> {v}" for n, o, v in upgrade.moves]))
    if upgrade.moves:
        yield _install(upgrade)
    if restart:
        yield server.restart_command()


def _restart_member(upgrade: Upgrade, node: PatroniNode, daemon: DaemonSpec,
                    members: int) -> Iterator[StringCommand]:
    if upgrade.restart:
        # pyinfra fails a host only once the serial operation has run on all of them: the
        # cluster itself must say that every other member is back before this one goes down.
        yield StringCommand(HOST_PROGRAM, node.config, "wait-peers", str(members),
                            str(WAIT_SECONDS))
    if upgrade.restart == PATRONI:
        # The daemon itself: its Python modules are read at start. Stopping Patroni stops
        # PostgreSQL; the start brings both back on the new code.
        yield restart_command(daemon)
    elif upgrade.restart:
        yield StringCommand(HOST_PROGRAM, node.config, "restart-replica", str(WAIT_SECONDS))
    yield StringCommand(HOST_PROGRAM, node.config, "wait-streaming", str(WAIT_SECONDS))


@operation()
def member_upgraded(node: PatroniNode, port: int, packages: list[str],
                    daemon: DaemonSpec, members: int, leader: bool = False,
                    restart_policy: str = "auto"):
    """
    Ensure this Patroni member's packages are at the newest version its apt sources offer and
    it runs them: the packages installed, then PostgreSQL restarted through Patroni (or the
    Patroni daemon restarted when Patroni itself moved), then a wait until the member streams
    from the leader again.

    + node: this member
    + port: the server's port (whose postmaster may still run a replaced binary)
    + packages: the packages that follow (``desired.upgrade.upgrade_packages``)
    + daemon: Patroni as supervised here (restarted when Patroni itself moved)
    + members: how many members the cluster has: a restart waits until all of them run
    + leader: False upgrades a replica and leaves the leader for later (call it with
      ``_serial=True``: one member down at a time); True upgrades the leader after a
      switchover to a replica, refused when a host failed its own upgrade before
    + restart_policy: ``never`` installs the packages, restarts nothing and warns

    **Example:**

    .. code:: python

        upgrade.member_upgraded(name="replicas", node=node, port=5432, packages=names,
                                daemon=spec, members=3, _serial=True)
        upgrade.member_upgraded(name="leader", node=node, port=5432, packages=names,
                                daemon=spec, members=3, leader=True)
    """
    upgrade = plan_upgrade(host.get_fact(ServerPackages, packages=tuple(packages), port=port,
                                         patroni_config=node.config))
    view = host.get_fact(PatroniState, node=node)
    if not upgrade:
        host.noop(f"{', '.join(packages)} at the newest available version")
        return
    if view is None:
        logger.warning(f"{host.name}: Patroni does not answer: not upgrading this member")
        host.noop("Patroni does not answer")
        return
    if view.leads != leader:
        host.noop("the leader is upgraded last, after a switchover" if view.leads
                  else f"upgraded with the replicas (leader: {view.leader})")
        return
    if restart_policy != "auto":
        if upgrade.moves:
            plan_note(node.member.name, *(f"{n} {o} -> {v}" for n, o, v in upgrade.moves))
            yield _install(upgrade)
        logger.warning(f"{host.name}: {node.member.name} runs code older than its packages "
                       "(restart_policy: never, not restarting)")
        if not upgrade.moves:
            host.noop("restart_policy: never")
        return
    failed = sorted(h.name for h in host.state.failed_hosts)
    if leader and failed:
        raise OperationError(f"not switching over to upgrade {host.name}: "
                             f"{', '.join(failed)} failed before")
    plan_note(node.member.name,
              *(["switch over to an upgraded replica"] if leader else []),
              *upgrade.describe(), "wait until it streams from the leader")
    if leader:
        yield StringCommand(OPS_PROGRAM, node.config, "switchover", "-", str(WAIT_SECONDS // 5))
        yield StringCommand(HOST_PROGRAM, node.config, "wait-streaming", str(WAIT_SECONDS))
    if upgrade.moves:
        yield _install(upgrade)
    yield from _restart_member(upgrade, node, daemon, members)
