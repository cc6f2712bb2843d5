"""pgtune-like starting values: the arithmetic, and that every value is valid for its major."""

from __future__ import annotations

import pytest

from pgstead.desired.tuning import PROFILES, STORAGES, TuningInput, recommend
from pgstead.postgres import catalog, units

GB = 1024**3


def tune(profile="web", memory_gb=8.0, cpus=4, storage="ssd", max_connections=200, major=15):
    return recommend(TuningInput(profile=profile, memory_bytes=int(memory_gb * GB), cpus=cpus,
                                 storage=storage, max_connections=max_connections, major=major))


def test_web_8gb_4cpus_ssd():
    assert tune() == {
        "shared_buffers": "2GB",
        "effective_cache_size": "6GB",
        "maintenance_work_mem": "512MB",
        "work_mem": "5242kB",  # (8GB - 2GB) / (200 * 3) / 2 workers per gather
        "wal_buffers": "16MB",
        "min_wal_size": "1GB",
        "max_wal_size": "4GB",
        "checkpoint_completion_target": "0.9",
        "default_statistics_target": "100",
        "random_page_cost": "1.1",
        "effective_io_concurrency": "200",
        "max_worker_processes": "8",
        "max_parallel_workers_per_gather": "2",
        "max_parallel_workers": "4",
        "max_parallel_maintenance_workers": "2",
    }


def test_keys_come_in_a_stable_order():
    assert list(tune())[:3] == ["shared_buffers", "effective_cache_size", "maintenance_work_mem"]


def test_desktop_32gb_8cpus_hdd():
    values = tune("desktop", 32, 8, "hdd", 100)
    assert values["shared_buffers"] == "2GB"  # a sixteenth on a desktop
    assert values["effective_cache_size"] == "8GB"
    assert values["maintenance_work_mem"] == "2GB"  # capped
    assert values["work_mem"] == "4369kB"  # (32GB - 2GB) / 300 / 4 / 6
    assert values["min_wal_size"] == "100MB" and values["max_wal_size"] == "2GB"
    assert values["random_page_cost"] == "4"
    assert values["effective_io_concurrency"] == "2"
    assert values["max_parallel_workers_per_gather"] == "4"


def test_dw_128gb_40cpus_ssd():
    values = tune("dw", 128, 40, "ssd", 40)
    assert values["shared_buffers"] == "32GB"
    assert values["effective_cache_size"] == "96GB"
    assert values["maintenance_work_mem"] == "2GB"
    assert values["work_mem"] == "20971kB"  # (128GB - 32GB) / 120 / 20 / 2
    assert values["default_statistics_target"] == "500"
    assert values["min_wal_size"] == "4GB" and values["max_wal_size"] == "16GB"
    assert values["max_worker_processes"] == "40"
    assert values["max_parallel_workers_per_gather"] == "20"  # dw is not capped at 4
    assert values["max_parallel_workers"] == "40"
    assert values["max_parallel_maintenance_workers"] == "4"


def test_oltp_wal_sizes_and_san_storage():
    values = tune("oltp", 16, 8, "san", 300)
    assert values["min_wal_size"] == "2GB" and values["max_wal_size"] == "8GB"
    assert values["random_page_cost"] == "1.1"
    assert values["effective_io_concurrency"] == "300"
    assert values["max_parallel_workers_per_gather"] == "4"  # capped outside dw


def test_odd_memory_sizes_round_down_to_whole_megabytes():
    values = tune("web", 7.7, 2)
    assert values["shared_buffers"] == "1971MB"
    assert values["effective_cache_size"] == "5913MB"


def test_wal_buffers_are_three_percent_of_shared_buffers_up_to_a_segment():
    assert tune(memory_gb=0.25)["wal_buffers"] == "1960kB"  # 3% of 64MB, whole 8kB pages
    assert tune(memory_gb=2)["wal_buffers"] == "16MB"  # 15.36MB is near enough a segment
    assert tune(memory_gb=64)["wal_buffers"] == "16MB"


def test_single_cpu_gets_no_parallel_settings():
    values = tune(cpus=1)
    assert not any(key.startswith(("max_parallel", "max_worker")) for key in values)
    assert values["work_mem"] == "10485kB"  # no division by parallel workers


def test_small_hosts_keep_the_default_worker_pool():
    values = tune(cpus=2)
    assert values["max_worker_processes"] == "8"
    assert values["max_parallel_workers"] == "2"
    assert values["max_parallel_workers_per_gather"] == "1"


def test_work_mem_never_drops_below_postgres_minimum():
    assert tune("desktop", 0.0625, 8, max_connections=10000)["work_mem"] == "64kB"


def test_profile_none_recommends_nothing():
    assert tune("none") == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"profile": "gaming"}, "profile must be one of"),
        ({"storage": "tape"}, "storage must be one of"),
        ({"memory_gb": 0.01}, "memory must be at least 64MB"),
        ({"cpus": 0}, "cpus must be at least 1"),
        ({"max_connections": 0}, "max_connections must be at least 1"),
        ({"major": 12}, "not supported"),
    ],
)
def test_bad_input_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tune(**kwargs)


@pytest.mark.parametrize("major", catalog.SUPPORTED_MAJORS)
@pytest.mark.parametrize("profile", [p for p in PROFILES if p != "none"])
@pytest.mark.parametrize("storage", STORAGES)
def test_every_value_is_valid_for_its_major(major, profile, storage):
    table = catalog.parameters(major)
    for memory_gb in (0.0625, 0.5, 1, 3.8, 8, 64, 512, 4096):
        for cpus in (1, 2, 3, 16, 96):
            for name, value in tune(profile, memory_gb, cpus, storage, 100, major).items():
                assert name in table, (major, name)
                units.parse_for(table[name], value)  # raises if PostgreSQL would refuse it
