"""What the member-removal facts make of etcdctl's output."""

from __future__ import annotations

import json

from pgstead.facts.members import EtcdMember, EtcdMembership


def test_etcd_membership_reads_member_ids_in_hex_and_patroni_member_names():
    listed = {"header": {}, "members": [
        {"ID": 1311170516219435525, "name": "db1", "peerURLs": ["https://10.0.0.11:2380"]},
        {"ID": 12500981107125829349, "name": "db2"},
        {"ID": 42, "peerURLs": ["https://10.0.0.13:2380"]},  # added, never started: no name
    ]}
    keys = ["/pgstead/prod/members/db1", "/pgstead/prod/members/db4", ""]
    found = EtcdMembership().process([json.dumps(listed), *keys])
    assert found.etcd == (EtcdMember("123236a33b399a05", "db1"),
                          EtcdMember("ad7c68157a1abee5", "db2"), EtcdMember("2a", ""))
    assert found.patroni == ("db1", "db4")


def test_etcd_membership_is_none_when_etcd_does_not_answer():
    assert EtcdMembership().process(["null"]) is None

