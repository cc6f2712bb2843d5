"""What `pgstead cluster` warns about without failing (pure; test_ha_operations reads a real
cluster's rows)."""

from __future__ import annotations

from pgstead.cli.ha_members import MemberRow, problems, warnings


def row(host: str, role: str, sync: bool = False, state: str = "streaming") -> MemberRow:
    return MemberRow(host=host, address=host, role=role, state=state, timeline=1,
                     lag_bytes=None if role == "leader" else 0, lag_seconds=None,
                     pending_restart=False, sync=sync)


def test_a_synchronous_cluster_without_a_synchronous_standby_is_warned_about_not_failed():
    rows = [row("db1", "leader", state="running"), row("db2", "replica"), row("db3", "replica")]
    assert problems(rows) == []
    said = warnings(rows, "on")
    assert len(said) == 1 and "no member is a synchronous standby" in said[0]
    assert "promotes nobody" in said[0]
    assert "writes wait" in warnings(rows, "strict")[0]


def test_nothing_to_warn_with_a_synchronous_standby_asynchronous_mode_or_no_leader():
    synced = [row("db1", "leader", state="running"), row("db2", "replica", sync=True),
              row("db3", "replica")]
    assert warnings(synced, "on") == []
    unsynced = [row("db1", "leader", state="running"), row("db2", "replica")]
    assert warnings(unsynced, "off") == []
    # Without a leader the cluster already fails: problems() says so.
    leaderless = [row("db1", "replica"), row("db2", "replica")]
    assert warnings(leaderless, "on") == [] and problems(leaderless)
