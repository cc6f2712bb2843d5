"""Operations of a Patroni + etcd member: the packages' own daemons out of the way, waiting for
the cluster, Patroni's dynamic configuration and its rolling restart. (etcd and Patroni
themselves are supervised like every daemon pgstead runs: pgstead.operations.daemon.)"""

from __future__ import annotations

import json
import shlex

from pyinfra import host, logger
from pyinfra.api import OperationError, QuoteString, StringCommand, operation

from pgstead.desired.ha import diff_dynamic_config
from pgstead.facts.daemon import PackageUnits
from pgstead.facts.ha import (
    EtcdQuorum,
    LeaderWalReplayed,
    PackageEtcdMember,
    PatroniState,
)
from pgstead.facts.settings import PgSettings
from pgstead.operations.daemon import (
    package_boot_links,
    package_unit_off,
    package_units_off,
    yield_changes,
)
from pgstead.operations.plan_notes import plan_note
from pgstead.postgres.sql import render
from pgstead.render.ha_layout import (
    ETCD_PACKAGE_DATA,
    ETCD_PEER_PORT,
    HOST_PROGRAM,
)
from pgstead.server.patroni import PatroniNode
from pgstead.server.psql import Server, psql_commands

# Debian's etcd-server starts this member on install unless a policy-rc.d forbids it.
PACKAGE_PEER_URLS = (f"http://localhost:{ETCD_PEER_PORT}",)


@operation()
def package_etcd_removed():
    """
    Ensure the one-member etcd that Debian's etcd-server starts on install is gone, when it
    is that untouched default (one member on http://localhost:2380, no keys).

    An etcd that holds keys, or has other members, is somebody's data: the operation stops
    with an error instead of touching it. The package's init script is disabled either way,
    so a boot does not start it again.

    **Example:**

    .. code:: python

        ha.package_etcd_removed(name="Debian's default etcd member")
    """
    live = host.get_fact(PackageEtcdMember)
    if live.running:
        if live.keys != 0 or live.members != PACKAGE_PEER_URLS:
            raise OperationError(
                f"an etcd started by the package runs here with {live.keys} keys and members "
                f"{', '.join(live.members) or '(unreadable)'}: not the untouched default, so "
                "pgstead leaves it alone; stop it and move its data away by hand")
        plan_note("etcd", "stop the package's default member and remove its data")
        if host.get_fact(PackageUnits, services=("etcd",)).systemd:
            # With systemd, its unit runs it: stopped (and disabled) through systemctl.
            yield package_unit_off("etcd")
        else:
            yield StringCommand("pkill", "-x", "etcd", "&&", "while", "pgrep", "-x", "etcd",
                                ">/dev/null;", "do", "sleep", "0.2;", "done")
        yield StringCommand("rm", "-rf", ETCD_PACKAGE_DATA)
        return
    if live.present:
        # Not running: its content cannot be read to prove it untouched, so it stays.
        host.noop(f"{ETCD_PACKAGE_DATA} is left in place (not running, not read)")
        return
    host.noop("no package default etcd member")


@operation()
def etcd_healthy(cert_dir: str, endpoints: list[str], seconds: int = 180):
    """
    Wait until etcd answers with a quorum (a linearizable read through the declared members).

    + cert_dir: where this host's member certificate, key and ca.crt are
    + endpoints: the members' client URLs
    + seconds: how long to wait

    A wait, not a change: it reads etcd when it runs, after the members this apply starts, and
    changes nothing, so neither a plan nor an apply reports it (a plan cannot read it: on
    fresh hosts etcd does not run yet). Without a quorum within `seconds` it fails the host.
    """
    if not host.state.is_executing:
        host.noop("etcd is read for a quorum when this runs")
        return
    # etcdctl 3.4 speaks the v3 API by default. A linearizable read: answered only through a
    # quorum, by any member that is up.
    probe = ("etcdctl", f"--endpoints={','.join(endpoints)}", f"--cacert={cert_dir}/ca.crt",
             f"--cert={cert_dir}/member.crt", f"--key={cert_dir}/member.key",
             "--dial-timeout=2s", "--command-timeout=5s", "get", "pgstead-quorum-probe")
    if host.get_fact(EtcdQuorum, probe=probe, seconds=seconds):
        host.noop("etcd answers with a quorum")
        return
    yield _failing(f"pgstead: etcd gave no quorum within {seconds} s through "
                   f"{', '.join(endpoints)}")


def _failing(message: str) -> StringCommand:
    """A command that fails the host with `message`: how a wait read by a fact says it gave
    up (a fact's failure alone does not stop the host)."""
    return StringCommand("sh", "-c", QuoteString(f"echo {shlex.quote(message)} >&2; exit 1"))


@operation()
def member_running(node: PatroniNode, seconds: int = 600):
    """
    Wait until this host's Patroni member runs PostgreSQL and the cluster has a leader
    (bootstrap on the first member, a clone from the leader on the others).

    Read-only: a member already running reports no change.
    """
    view = host.get_fact(PatroniState, node=node)
    if view is not None and view.member.get("state") == "running" and view.leader:
        host.noop(f"{node.member.name} runs as {view.role}")
        return
    plan_note(node.member.name, "wait for Patroni to run PostgreSQL (bootstrap or clone)")
    yield StringCommand(HOST_PROGRAM, node.config, "wait-running", str(seconds))


def _flatten(patch: dict, prefix: str = "") -> list[str]:
    out = []
    for key, value in patch.items():
        if isinstance(value, dict):
            out += _flatten(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key} -> {'(removed)' if value is None else value}")
    return out


@operation()
def dynamic_config(node: PatroniNode, wanted: dict):
    """
    Ensure Patroni's dynamic configuration holds `wanted`: read with ``GET /config``, only
    the difference written with ``PATCH /config`` (parameters no longer declared removed).

    + node: this member; the patch is sent from the leader only (every member then applies
      it on its next loop), replicas report no change
    + wanted: the configuration pgstead wants (``desired.ha.dynamic_configuration``)
    """
    view = host.get_fact(PatroniState, node=node)
    if view is None:
        host.noop("Patroni is not running yet: its bootstrap writes the dynamic configuration")
        return
    if not view.leads:
        host.noop(f"dynamic configuration is the leader's to write ({view.leader})")
        return
    patch = diff_dynamic_config(view.config, wanted)
    if not patch:
        host.noop("dynamic configuration up to date")
        return
    plan_note("dynamic configuration", *_flatten(patch))
    yield StringCommand(HOST_PROGRAM, node.config, "patch-config",
                        _stdin=json.dumps(patch, sort_keys=True))


@operation()
def rolling_restart(node: PatroniNode, restart_names: list[str], restart_policy: str = "auto",
                    wait_seconds: int = 60):
    """
    Ensure no member waits for a restart: Patroni restarts the members that do, replicas first,
    one at a time, then the leader (run from the leader; replicas report no change).

    + restart_names: restart-class parameters this apply changes (the plan names them; the
      restart waits until members report them pending)
    + restart_policy: ``never`` only warns
    """
    view = host.get_fact(PatroniState, node=node)
    if view is None or not view.leads:
        host.noop("rolling restarts are run from the leader")
        return
    pending = [m["name"] for m in view.members if m.get("pending_restart")]
    if not pending and not restart_names:
        host.noop("no member waits for a restart")
        return
    if restart_policy != "auto":
        logger.warning(f"{host.name}: members {', '.join(pending) or '(after this apply)'} wait"
                       " for a restart (restart_policy: never, not restarting)")
        host.noop("restart_policy: never")
        return
    plan_note("rolling restart", *(f"{name} (pending)" for name in pending),
              *(f"{name} (restart)" for name in restart_names))
    yield StringCommand(HOST_PROGRAM, node.config, "restart-pending",
                        str(wait_seconds) if restart_names else "0")


@operation()
def package_scripts_disabled(disabled: list[str]):
    """
    Ensure the packages' init scripts `disabled` do not start their daemon at boot (etcd's
    would start its default member; Debian's patroni script needs systemd). pgstead runs its
    own instances (pgstead.operations.daemon).

    + disabled: the init scripts' names

    Without systemd, ``update-rc.d`` removes the links sysvinit reads. With systemd, the
    packages' units are disabled through systemctl (read with ``systemctl is-enabled``, not
    from the links), and not stopped: etcd's default member is read before it is removed
    (``package_etcd_removed``).

    **Example:**

    .. code:: python

        ha.package_scripts_disabled(name="Package scripts off", disabled=["etcd", "patroni"])
    """
    units = package_units_off(disabled, stop=False)
    if units is None:
        units = package_boot_links(disabled)
    if not units:
        host.noop(f"{', '.join(disabled)} do not start at boot")
        return
    yield from yield_changes("boot", units)


@operation()
def alter_system_reset(server: Server):
    """
    Ensure postgresql.auto.conf sets nothing on this member: under Patroni, ALTER SYSTEM is per
    node and lost on failover, so values left from before Patroni are reset (and reloaded).
    """
    live = host.get_fact(PgSettings, server=server, names=())
    leftovers = sorted(n for n, row in (live.rows if live else {}).items()
                       if row.auto_conf is not None)
    if not leftovers:
        host.noop(f"{server}: nothing set by ALTER SYSTEM")
        return
    plan_note(server, *(f"{name}: ALTER SYSTEM value reset" for name in leftovers))
    yield psql_commands(server, [render("alter_system_reset_all"), "SELECT pg_reload_conf()"])


@operation()
def leader_writes_replayed(node: PatroniNode, seconds: int = 300):
    """
    Wait until this replica has replayed what its leader had written when this runs: the
    roles, databases and grants the apply wrote there just before, which later roles read on
    this member.

    A wait, not a change, like ``etcd_healthy``: read when it runs, so neither a plan nor an
    apply lists it; a replica that has not replayed within `seconds` fails the host.
    """
    if not host.state.is_executing:
        host.noop("the leader's WAL position is read when this runs")
        return
    said = host.get_fact(LeaderWalReplayed, node=node, seconds=seconds)
    if said in ("replayed", "leads"):
        host.noop(f"{node.member.name}: the leader's writes replayed" if said == "replayed"
                  else f"{node.member.name} leads")
        return
    yield _failing(said)


@operation()
def replica_skips(node: PatroniNode, what: str):
    """Report that `what` is the leader's to do: a replica reports no change for it."""
    view = host.get_fact(PatroniState, node=node)
    leader = view.leader if view else None
    host.noop(f"{what}: written on the leader ({leader or 'unknown'}), replicated here")
    return
    yield  # an operation is a generator
