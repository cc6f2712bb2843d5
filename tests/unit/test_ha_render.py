"""What a Patroni + etcd member is given (pure renderers and the dynamic-configuration diff;
tests/test_ha_cluster.py runs them for real)."""

from __future__ import annotations

from pathlib import Path

import yaml

from pgstead.config.members import Member
from pgstead.config.model import Backups, Environment, Ha
from pgstead.desired.ha import dynamic_configuration
from pgstead.render.etcd import render_etcd_config
from pgstead.render.ha_layout import data_directory as config_data_directory
from pgstead.render.patroni import PatroniSecrets, render_patroni_config
from pgstead.render.pgbackrest import default_data_directory, render_stanza_config, stanza_name

MEMBERS = [Member("db1", "10.0.0.11"), Member("db2", "10.0.0.12"), Member("db3", "10.0.0.13")]


def env(**ha: object) -> Environment:
    return Environment(name="prod", source=Path("/x/prod.yml"), state_dir=Path("/x/.pgstead"),
                       ha=Ha(scope="prod", **ha))


def patroni_file(**ha: object) -> dict:
    e = env(**ha)
    dcs = dynamic_configuration(e.ha, {"max_connections": "100", "log_connections": "on"})
    text = render_patroni_config(e, MEMBERS[0], MEMBERS, {"shared_buffers": "1GB"}, dcs,
                                 ["local all postgres peer"],
                                 PatroniSecrets("repl-pw", "rewind-pw", "api-pw"))
    return yaml.safe_load(text)


def test_patroni_talks_to_etcd_over_tls_with_its_member_certificate():
    etcd = patroni_file()["etcd3"]
    assert etcd["protocol"] == "https"
    assert etcd["hosts"] == ["10.0.0.11:2379", "10.0.0.12:2379", "10.0.0.13:2379"]
    assert etcd["cert"].endswith("member.crt") and etcd["key"].endswith("member.key")


def test_rest_api_is_tls_with_authentication_and_replication_verifies_the_server():
    config = patroni_file()
    assert config["restapi"]["certfile"].endswith("member.crt")
    assert config["restapi"]["authentication"] == {"username": "patroni", "password": "api-pw"}
    for user in ("replication", "rewind"):
        assert config["postgresql"]["authentication"][user]["sslmode"] == "verify-full"
    # The superuser has no password: Patroni reaches its server over the socket.
    assert config["postgresql"]["authentication"]["superuser"] == {"username": "postgres"}


def test_bootstrap_holds_the_cluster_wide_configuration_and_checksums():
    config = patroni_file(synchronous="strict")
    dcs = config["bootstrap"]["dcs"]
    assert dcs["failsafe_mode"] is True
    assert dcs["synchronous_mode"] is True and dcs["synchronous_mode_strict"] is True
    assert dcs["postgresql"]["use_pg_rewind"] and dcs["postgresql"]["use_slots"]
    assert dcs["postgresql"]["parameters"] == {"max_connections": "100",
                                               "log_connections": "on"}
    assert "data-checksums" in config["bootstrap"]["initdb"]
    assert config["postgresql"]["parameters"]["shared_buffers"] == "1GB"
    assert config["watchdog"] == {"mode": "off"}


def test_a_member_that_never_creates_the_cluster_has_no_bootstrap_section():
    # Patroni 3.0.2 races to create a cluster only where the file has the section: with it
    # on one member, the plan knows who leads a new cluster.
    e = env()
    config = yaml.safe_load(render_patroni_config(
        e, MEMBERS[1], MEMBERS, {}, None, [], PatroniSecrets()))
    assert "bootstrap" not in config
    assert config["postgresql"]["data_dir"] == patroni_file()["postgresql"]["data_dir"]


def test_etcd_member_config_lists_every_member_over_https_with_client_certificates():
    config = yaml.safe_load(render_etcd_config(MEMBERS[1], MEMBERS, "prod"))
    assert config["name"] == "db2"
    assert config["initial-cluster"] == ("db1=https://10.0.0.11:2380,db2=https://10.0.0.12:2380,"
                                         "db3=https://10.0.0.13:2380")
    assert config["listen-client-urls"] == "https://10.0.0.12:2379,https://127.0.0.1:2379"
    assert config["client-transport-security"]["client-cert-auth"] is True
    assert config["peer-transport-security"]["client-cert-auth"] is True
    assert config["enable-grpc-gateway"] is True


def pgbackrest_env(replica_method: str) -> Environment:
    return Environment(name="prod", source=Path("/x/prod.yml"), state_dir=Path("/x/.pgstead"),
                       backups=Backups(enabled=True, method="pgbackrest"),
                       ha=Ha(scope="prod", replica_method=replica_method))


def rendered(e: Environment) -> dict:
    return yaml.safe_load(render_patroni_config(
        e, MEMBERS[0], MEMBERS, {}, dynamic_configuration(e.ha, {}), [], PatroniSecrets()))


def test_replicas_come_from_the_leader_unless_the_file_says_pgbackrest():
    plain = patroni_file()["postgresql"]
    assert plain["create_replica_methods"] == ["basebackup"]
    assert "recovery_conf" not in plain and "pgbackrest" not in plain
    archived = rendered(pgbackrest_env("basebackup"))["postgresql"]
    assert archived["create_replica_methods"] == ["basebackup"]
    # Every replica can still read WAL its leader dropped from the stanza's archive.
    assert archived["recovery_conf"] == {
        "restore_command": 'pgbackrest --stanza=prod archive-get %f "%p"'}


def test_replica_method_pgbackrest_restores_from_the_stanza_then_falls_back_to_basebackup():
    config = rendered(pgbackrest_env("pgbackrest"))["postgresql"]
    assert config["create_replica_methods"] == ["pgbackrest", "basebackup"]
    assert config["pgbackrest"] == {
        "command": "/usr/local/sbin/pgstead-pgbackrest --config /etc/pgstead/backup-prod.conf "
                   "--create-replica",
        "no_params": True}
    assert config["basebackup"] == [{"checkpoint": "fast"}]


def test_the_stanza_of_a_cluster_is_its_scope_and_its_data_is_patronis():
    e = pgbackrest_env("basebackup")
    assert stanza_name(e) == "prod"
    assert default_data_directory(e) == config_data_directory(15, "prod")
    assert "pg1-path=/var/lib/postgresql/15/prod\n" in render_stanza_config(
        e, default_data_directory(e))
