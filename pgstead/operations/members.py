"""Operations that remove a member from a Patroni + etcd cluster: its daemons stopped for
good on the host itself, then what etcd still holds of it (its etcd membership, its Patroni
member key) removed from a member that stays. Its data stays on disk."""

from __future__ import annotations

from collections.abc import Sequence

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation

from pgstead.config.ha_check import dcs_count_problem
from pgstead.facts.members import EtcdMembership
from pgstead.operations.plan_notes import plan_note


def etcdctl(cert_dir: str, endpoints: Sequence[str]) -> tuple[str, ...]:
    """etcdctl (v3 API) through `endpoints`, with this host's member certificate."""
    return ("etcdctl", f"--endpoints={','.join(endpoints)}", f"--cacert={cert_dir}/ca.crt",
            f"--cert={cert_dir}/member.crt", f"--key={cert_dir}/member.key",
            "--dial-timeout=3s", "--command-timeout=5s")


@operation()
def members_forgotten(departing: Sequence[str], keys_of: Sequence[str],
                      etcdctl_base: Sequence[str], members_prefix: str):
    """
    Ensure etcd holds nothing of the `departing` members: no etcd membership (``member
    remove``, only while the etcd members that stay keep an odd quorum of three or more) and,
    for the `keys_of` hosts, no Patroni member key.

    + departing: the inventory names of the members being removed
    + keys_of: departing hosts this run could not reach: their member key is deleted here
      (a reached host deletes its own once its Patroni stopped, daemon.unsupervised's ``then``)
    + etcdctl_base: etcdctl with endpoints (the members that stay) and certificates
    + members_prefix: the scope's Patroni member keys (``/pgstead/SCOPE/members/``)
    """
    live = host.get_fact(EtcdMembership, base=tuple(etcdctl_base),
                         members_prefix=members_prefix)
    if live is None:
        raise OperationError("etcd does not answer through the members that stay: cannot "
                             f"remove {', '.join(departing)} from it")
    leaving = [m for m in live.etcd if m.name in departing]
    staying = len(live.etcd) - len(leaving)
    problem = dcs_count_problem(staying) if leaving else None
    if problem:
        raise OperationError(
            f"removing {', '.join(m.name for m in leaving)} from etcd would leave {staying} "
            f"etcd members: {problem}; nothing was removed")
    keys = [name for name in live.patroni if name in keys_of]
    if not leaving and not keys:
        host.noop(f"etcd holds nothing of {', '.join(departing)}")
        return
    plan_note("etcd", *(f"member {m.name} ({m.id}) removed" for m in leaving),
              *(f"Patroni member key of {name} deleted" for name in keys))
    base = [QuoteString(word) for word in etcdctl_base]
    for m in leaving:
        yield StringCommand(*base, "member", "remove", m.id)
    for name in keys:
        yield StringCommand(*base, "del", QuoteString(members_prefix + name))
