"""Where each parameter of an HA cluster goes, etcd's members, the synchronous mode, and the
smallest PATCH of Patroni's dynamic configuration."""

from __future__ import annotations

import pytest

from pgstead.config.members import Member
from pgstead.config.model import Ha
from pgstead.desired.ha import (
    SettingsConflict,
    dcs_members,
    diff_dynamic_config,
    dynamic_configuration,
    service_user_limits,
    split_settings,
    synchronous_flags,
)
from pgstead.desired.settings import desired_settings
from pgstead.live.host import HostResources


def test_tuned_memory_parameters_stay_per_host_and_the_rest_is_cluster_wide():
    split = split_settings({
        "db1": {"shared_buffers": "1GB", "work_mem": "8MB", "log_connections": "on"},
        "db2": {"shared_buffers": "2GB", "work_mem": "8MB", "log_connections": "on"},
    }, declared=["log_connections"])
    assert split.cluster == {"log_connections": "on"}
    assert split.per_host == {"db1": {"shared_buffers": "1GB", "work_mem": "8MB"},
                              "db2": {"shared_buffers": "2GB", "work_mem": "8MB"}}


def test_a_per_host_parameter_the_file_declares_is_cluster_wide():
    split = split_settings({"db1": {"work_mem": "16MB"}, "db2": {"work_mem": "16MB"}},
                           declared=["WORK_MEM"])
    assert split.cluster == {"work_mem": "16MB"}
    assert split.per_host == {"db1": {}, "db2": {}}


def test_command_line_parameters_are_cluster_wide_with_the_highest_value():
    # max_worker_processes is tuned from CPUs, but Patroni reads it only from the dynamic
    # configuration, and a replica with fewer than its leader would not start.
    split = split_settings({"db1": {"max_worker_processes": "8", "max_parallel_workers": "2"},
                            "db2": {"max_worker_processes": "16", "max_parallel_workers": "16"}},
                           declared=[])
    assert split.cluster == {"max_worker_processes": "16"}
    assert split.per_host == {"db1": {"max_parallel_workers": "2"},
                              "db2": {"max_parallel_workers": "16"}}


def test_a_command_line_parameter_members_disagree_on_in_words_is_a_conflict():
    with pytest.raises(SettingsConflict, match="wal_level must be the same"):
        split_settings({"db1": {"wal_level": "replica"}, "db2": {"wal_level": "logical"}}, [])


def test_parameters_patroni_sets_itself_are_left_out():
    split = split_settings({"db1": {"listen_addresses": "*", "port": "5432",
                                    "primary_conninfo": "x", "ssl": "on"}}, declared=[])
    assert split.cluster == {"ssl": "on"}
    assert split.per_host == {"db1": {}}


def test_a_derived_parameter_members_disagree_on_goes_per_host():
    split = split_settings({"db1": {"random_page_cost": "1.1"},
                            "db2": {"random_page_cost": "4"}}, declared=[])
    assert split.cluster == {}
    assert split.per_host == {"db1": {"random_page_cost": "1.1"},
                              "db2": {"random_page_cost": "4"}}


def test_whole_desired_settings_of_two_unlike_hosts_split_cleanly(tmp_path):
    from pgstead.config.model import Environment, Postgres, Tuning

    env = Environment(name="prod", source=tmp_path / "prod.yml", state_dir=tmp_path,
                      postgres=Postgres(tuning=Tuning(profile="web"),
                                        settings={"log_connections": "on"}), ha=Ha())
    small = desired_settings(env, HostResources(memory_bytes=2 * 1024**3, cpus=2), "/etc/p")
    large = desired_settings(env, HostResources(memory_bytes=16 * 1024**3, cpus=8), "/etc/p")
    split = split_settings({"db1": small, "db2": large}, env.postgres.settings)
    assert "listen_addresses" not in split.cluster
    assert split.cluster["log_connections"] == "on"
    assert split.cluster["password_encryption"] == "scram-sha-256"
    assert split.cluster["max_worker_processes"] == large["max_worker_processes"]
    assert split.per_host["db1"]["shared_buffers"] == small["shared_buffers"]
    assert split.per_host["db2"]["shared_buffers"] == large["shared_buffers"]
    assert small["shared_buffers"] != large["shared_buffers"]
    # Nothing is in both places, and nothing pgstead wants (but Patroni's own) is lost.
    for member, wanted in (("db1", small), ("db2", large)):
        assert not set(split.cluster) & set(split.per_host[member])
        assert set(wanted) - {"listen_addresses"} == set(split.cluster) | set(
            split.per_host[member])


MEMBERS = (Member("db1", "10.0.0.1"), Member("db2", "10.0.0.2"), Member("db3", "10.0.0.3"),
           Member("db4", "10.0.0.4"))


def test_every_member_runs_etcd_unless_the_file_names_them():
    assert dcs_members(Ha(), MEMBERS) == MEMBERS
    assert dcs_members(Ha(dcs_hosts=("db3", "db1", "db2")), MEMBERS) == MEMBERS[:3]


@pytest.mark.parametrize(("mode", "flags"), [
    ("off", {"synchronous_mode": False, "synchronous_mode_strict": False}),
    ("on", {"synchronous_mode": True, "synchronous_mode_strict": False}),
    ("strict", {"synchronous_mode": True, "synchronous_mode_strict": True}),
])
def test_synchronous_modes_map_to_patronis_flags(mode, flags):
    assert synchronous_flags(mode) == flags


def test_an_unknown_synchronous_mode_is_refused():
    with pytest.raises(ValueError):
        synchronous_flags("always")


def test_dynamic_configuration_carries_the_timings_and_parameters():
    config = dynamic_configuration(Ha(ttl=12, loop_wait=2, retry_timeout=5, synchronous="strict"),
                                   {"work_mem": "8MB"})
    assert (config["ttl"], config["loop_wait"], config["retry_timeout"]) == (12, 2, 5)
    assert config["synchronous_mode_strict"] is True
    assert config["failsafe_mode"] is True
    assert config["postgresql"]["parameters"] == {"work_mem": "8MB"}


LIVE = {
    "ttl": 10, "loop_wait": 2, "retry_timeout": 4, "maximum_lag_on_failover": 1048576,
    "failsafe_mode": True, "synchronous_mode": True, "synchronous_mode_strict": False,
    "check_timeline": True,  # set by a human: pgstead does not name it
    "postgresql": {"use_pg_rewind": True, "use_slots": True,
                   "parameters": {"max_connections": 100, "work_mem": "8MB",
                                  "log_connections": "on"}},
}


def _desired(**parameters: str) -> dict:
    base = {"max_connections": "100", "work_mem": "8MB", "log_connections": "on"}
    return dynamic_configuration(Ha(), {**base, **parameters})


def test_a_converged_cluster_needs_no_patch():
    assert diff_dynamic_config(LIVE, _desired()) == {}


def test_a_changed_parameter_is_all_the_patch_holds():
    assert diff_dynamic_config(LIVE, _desired(work_mem="16MB")) == {
        "postgresql": {"parameters": {"work_mem": "16MB"}}}


def test_a_parameter_dropped_from_the_file_is_removed_with_null():
    desired = dynamic_configuration(Ha(), {"max_connections": "100", "work_mem": "8MB"})
    assert diff_dynamic_config(LIVE, desired) == {
        "postgresql": {"parameters": {"log_connections": None}}}


def test_keys_pgstead_does_not_name_are_left_alone_outside_the_parameters():
    assert "check_timeline" not in diff_dynamic_config(LIVE, _desired(work_mem="16MB"))


def test_timings_and_modes_are_patched_at_the_top():
    desired = dynamic_configuration(Ha(ttl=20, synchronous="strict"), _desired()["postgresql"][
        "parameters"])
    assert diff_dynamic_config(LIVE, desired) == {"ttl": 20, "synchronous_mode_strict": True}


def test_an_empty_live_configuration_gets_everything():
    desired = _desired()
    assert diff_dynamic_config({}, desired) == desired


def test_parameter_names_compare_without_case_and_booleans_as_postgresql_reads_them():
    live = {**LIVE, "postgresql": {**LIVE["postgresql"], "parameters": {
        "Max_Connections": 100, "work_mem": "8MB", "log_connections": True}}}
    assert diff_dynamic_config(live, _desired()) == {}


def test_a_value_that_differs_only_in_case_is_a_change():
    live = {**LIVE, "postgresql": {**LIVE["postgresql"], "parameters": {
        **LIVE["postgresql"]["parameters"], "archive_command": "cp %p /Archive/%f"}}}
    patch = diff_dynamic_config(live, _desired(archive_command="cp %p /archive/%f"))
    assert patch == {"postgresql": {"parameters": {"archive_command": "cp %p /archive/%f"}}}


def test_patronis_users_get_connection_limits_from_the_cluster():
    assert service_user_limits({"max_wal_senders": "12"}) == {"replicator": 12,
                                                               "rewinder": 12}
    # Patroni's own default when the file and tuning leave max_wal_senders alone.
    assert service_user_limits({}) == {"replicator": 10, "rewinder": 10}
