"""The checks an HA file gets once the inventory's hosts are known, each at the file's line."""

from __future__ import annotations

from pathlib import Path

from pgstead.config.load import check_file
from pgstead.config.members import InventoryHost, inventory_hosts, slot_name

THREE = (InventoryHost("db1", "10.0.0.1"), InventoryHost("db2", "10.0.0.2"),
         InventoryHost("db3", "10.0.0.3"))


def _problems(tmp_path: Path, text: str, hosts) -> list[str]:
    path = tmp_path / "prod.yml"
    path.write_text(text)
    report = check_file(path, resolve_secrets=False, hosts=hosts)
    return [f"{p.line}: {p.path}: {p.message}" for p in report.errors]


def test_three_hosts_make_a_cluster(tmp_path):
    assert _problems(tmp_path, "name: prod\nha: {synchronous: strict}\n", THREE) == []


def test_without_an_inventory_the_member_checks_do_not_run(tmp_path):
    assert _problems(tmp_path, "name: prod\nha: {}\n", None) == []


def test_four_hosts_all_running_etcd_is_an_even_quorum(tmp_path):
    four = (*THREE, InventoryHost("db4", "10.0.0.4"))
    problems = _problems(tmp_path, "name: prod\nha:\n  dcs: {hosts: all}\n", four)
    assert len(problems) == 1 and problems[0].startswith("3: ha.dcs.hosts: ")
    assert "odd count" in problems[0]
    assert _problems(tmp_path, "name: prod\nha:\n  dcs: {hosts: [db1, db2, db4]}\n", four) == []


def test_names_patroni_maps_to_one_slot_are_refused(tmp_path):
    assert slot_name("db-1") == slot_name("DB.1") == "db_1"
    hosts = (InventoryHost("db-1", "10.0.0.1"), InventoryHost("DB.1", "10.0.0.2"),
             InventoryHost("db3", "10.0.0.3"))
    problems = _problems(tmp_path, "name: prod\nha: {}\n", hosts)
    assert problems == ["2: ha: hosts db-1 and DB.1 are one member name to Patroni "
                        "(replication slot db_1): rename one"]


def test_two_hosts_at_one_address_are_refused(tmp_path):
    hosts = (*THREE[:2], InventoryHost("db3", "10.0.0.1"))
    problems = _problems(tmp_path, "name: prod\nha: {}\n", hosts)
    assert problems == ["2: ha: hosts db1 and db3 both reach 10.0.0.1: one machine cannot be "
                        "two members; set ha_address in the host data or remove one"]


def test_too_few_wal_senders_for_the_members_are_refused(tmp_path):
    text = "name: prod\npostgres:\n  settings:\n    max_wal_senders: 3\nha: {}\n"
    problems = _problems(tmp_path, text, THREE)
    assert problems == ["4: postgres.settings.max_wal_senders: max_wal_senders is 3, and 3 "
                        "members need 4 (one per replica, plus two for a replica being cloned)"]


def test_member_address_comes_from_ha_address_then_ssh_then_the_name():
    class FakeHost:
        def __init__(self, name, data, groups=()):
            self.name, self.data, self.groups = name, data, groups

    hosts = inventory_hosts([FakeHost("db1", {"ha_address": "10.1.0.1", "ssh_hostname": "x"}),
                             FakeHost("db2", {"ssh_hostname": "10.0.0.2"}),
                             FakeHost("db3", {}, groups=("hosts", "hosts", "prod"))])
    assert hosts == (InventoryHost("db1", "10.1.0.1"), InventoryHost("db2", "10.0.0.2"),
                     InventoryHost("db3", "db3", listed=2))


def test_a_member_marked_absent_leaves_when_etcd_keeps_three(tmp_path):
    four = (*THREE, InventoryHost("db4", "10.0.0.4", state="absent"))
    listed = "name: prod\nha:\n  dcs: {hosts: [db1, db2, db3]}\n"
    assert _problems(tmp_path, listed, four) == []
    # Every host ran etcd: four with one leaving keeps three.
    assert _problems(tmp_path, "name: prod\nha: {}\n", four) == []


def test_removing_an_etcd_member_that_leaves_an_even_or_small_etcd_is_refused(tmp_path):
    leaving = (*THREE[:2], InventoryHost("db3", "10.0.0.3", state="absent"))
    problems = _problems(tmp_path, "name: prod\nha: {}\n", leaving)
    assert len(problems) == 1, problems
    assert problems[0].startswith("2: ha: removing db3 (state: absent) also removes their etcd "
                                  "members (dcs.hosts: all), which leaves 2: etcd needs at "
                                  "least 3 members")
    assert "nothing was changed" in problems[0]
    five = (*THREE, InventoryHost("db4", "10.0.0.4"), InventoryHost("db5", "10.0.0.5",
                                                                     state="absent"))
    problems = _problems(tmp_path, "name: prod\nha: {}\n", five)
    assert len(problems) == 1 and "which leaves 4: etcd needs an odd count" in problems[0]


def test_an_absent_host_still_listed_in_dcs_hosts_is_refused(tmp_path):
    four = (*THREE, InventoryHost("db4", "10.0.0.4", state="absent"))
    problems = _problems(tmp_path, "name: prod\nha:\n  dcs: {hosts: [db2, db3, db4]}\n", four)
    assert problems == ["3: ha.dcs.hosts[2]: db4 is marked state: absent in the inventory and "
                        "still listed as an etcd member: removing its etcd member must leave "
                        "an odd count of 3 or more in ha.dcs.hosts; nothing was changed"]


def test_an_unknown_state_or_absent_without_ha_is_refused(tmp_path):
    odd = (*THREE[:2], InventoryHost("db3", "10.0.0.3", state="gone"))
    assert _problems(tmp_path, "name: prod\nha: {}\n", odd) == [
        "2: ha: host db3 has state: gone in the inventory: expected present or absent"]
    single = (InventoryHost("db1", "10.0.0.1", state="absent"),)
    problems = _problems(tmp_path, "name: prod\n", single)
    assert len(problems) == 1 and "has no ha section" in problems[0]


def test_the_state_comes_from_the_host_data():
    class FakeHost:
        def __init__(self, name, data):
            self.name, self.data, self.groups = name, data, ()

    found = inventory_hosts([FakeHost("db1", {"ssh_hostname": "10.0.0.1"}),
                             FakeHost("db2", {"ssh_hostname": "10.0.0.2", "state": "absent"})])
    assert [(h.name, h.absent) for h in found] == [("db1", False), ("db2", True)]


def test_a_pooler_in_a_cluster_must_listen_where_haproxy_reaches_it(tmp_path):
    base = ("name: prod\npostgres:\n  listen_addresses: ['*']\nha: {}\n"
            "pooler:\n  enabled: true\n")
    assert _problems(tmp_path, base, THREE) == []
    problems = _problems(tmp_path, base + "  listen_addresses: [localhost]\n", THREE)
    assert len(problems) == 1 and problems[0].startswith("7: pooler.listen_addresses: "
                                                         "pgbouncer would listen on localhost")
    # pgbouncer's port cannot be one of HAProxy's.
    problems = _problems(tmp_path, base + "  port: 5002\n", THREE)
    assert problems == ["4: ha: direct_port 5002 is already pgbouncer's port (pooler.port) on "
                        "every member: choose another port"]
