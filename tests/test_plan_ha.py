"""`pgstead plan` of an HA file: the parameters as Patroni gets them, cluster-wide and per
host, instead of an ALTER SYSTEM listing."""

from __future__ import annotations

from tests import test_plan_cli
from tests.test_plan_cli import edit, plan, planned

example = test_plan_cli.example  # the contract example, as a fixture here too


def _ha(data: dict) -> None:
    data["postgres"].pop("install", None)
    data["postgres"].pop("cluster", None)
    data.pop("compose", None)
    data["ha"] = {"synchronous": "strict", "ttl": 12}


def test_an_ha_plan_lists_dynamic_configuration_and_per_host_parameters(tmp_path, example):
    edit(example, _ha)
    run = plan(tmp_path, example, "--memory", "4GB", "--cpus", "4")
    assert run.returncode == 0, run.stderr
    files = planned(tmp_path)
    assert "postgresql.auto.conf" not in files
    listing = files["patroni-parameters.txt"]
    cluster, per_host = listing.split("# Each member's own Patroni file")
    assert "\nttl: 12\n" in cluster and "\nsynchronous_mode_strict: true\n" in cluster
    assert "  password_encryption = 'scram-sha-256'  # reload; pgstead" in cluster
    assert "  max_worker_processes = '8'  # restart; tuning" in cluster
    assert "  effective_cache_size = '3GB'  # reload; tuning" in per_host
    # Declared in the file: the same on every member, so cluster-wide though tuning derives it.
    assert "  shared_buffers = '256MB'  # restart; file" in cluster
    assert "shared_buffers" not in per_host
    for owned in ("listen_addresses", "  port =", "cluster_name", "hot_standby"):
        assert owned not in listing
    assert "patroni-parameters.txt -> (listing)" in files["INDEX.txt"]


def test_without_the_host_the_tuned_values_are_marked_computed(tmp_path, example):
    edit(example, _ha)
    edit(example, lambda d: d["postgres"].setdefault("tuning", {}).update(
        memory="auto", cpus="auto"))
    run = plan(tmp_path, example)
    assert run.returncode == 0, run.stderr
    listing = planned(tmp_path)["patroni-parameters.txt"]
    assert ("  # max_worker_processes = (the highest value among the members, computed on "
            "each)  # restart; tuning") in listing
    assert "  # effective_cache_size = (computed on the host)  # reload; tuning" in listing
