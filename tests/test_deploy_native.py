"""Foundation: a real pyinfra run converges a native cluster; a second changes nothing."""

from __future__ import annotations

from tests.clusters import postmaster_start, show, sql
from tests.pgstead_run import apply, dry


def test_first_apply_creates_cluster_and_second_apply_changes_nothing(env_file):
    first = apply(env_file.path, env_file.state_dir)
    assert first.changed, "the first apply must change something"
    assert any("Cluster" in name for name in first.changed)
    assert sql(env_file.port, "SELECT 1") == "1"

    second = apply(env_file.path, env_file.state_dir)
    assert second.changed == [], f"second apply changed: {second.changed}"
    assert second.failed == []


def test_settings_are_really_applied(env_file):
    env_file.data["postgres"]["settings"].update(
        {"work_mem": "8MB", "log_statement": "ddl", "autovacuum_naptime": "2min"})
    env_file.write()
    apply(env_file.path, env_file.state_dir)
    assert show(env_file.port, "work_mem") == "8MB"
    assert show(env_file.port, "log_statement") == "ddl"
    assert show(env_file.port, "autovacuum_naptime") == "2min"
    assert show(env_file.port, "log_connections") == "on"
    assert show(env_file.port, "password_encryption") == "scram-sha-256"


def test_tuning_values_apply_and_explicit_settings_win(env_file):
    env_file.data["postgres"]["settings"]["shared_buffers"] = "192MB"
    env_file.write()
    apply(env_file.path, env_file.state_dir)
    # 2GB / web profile gives shared_buffers 512MB; the explicit value wins.
    assert show(env_file.port, "shared_buffers") == "192MB"
    assert show(env_file.port, "effective_cache_size") == "1536MB"


def test_restart_needing_change_restarts_under_auto(env_file):
    apply(env_file.path, env_file.state_dir)
    started = postmaster_start(env_file.port)
    env_file.data["postgres"]["settings"]["shared_buffers"] = "160MB"
    env_file.write()
    run = apply(env_file.path, env_file.state_dir)
    assert run.changed
    assert show(env_file.port, "shared_buffers") == "160MB"
    assert postmaster_start(env_file.port) != started
    assert sql(env_file.port, "SELECT count(*) FROM pg_settings WHERE pending_restart") == "0"
    assert apply(env_file.path, env_file.state_dir).changed == []


def test_reload_only_change_does_not_restart(env_file):
    apply(env_file.path, env_file.state_dir)
    started = postmaster_start(env_file.port)
    env_file.data["postgres"]["settings"]["work_mem"] = "12MB"
    env_file.write()
    apply(env_file.path, env_file.state_dir)
    assert show(env_file.port, "work_mem") == "12MB"
    assert postmaster_start(env_file.port) == started


def _restart_notice(output: str, phrase: str, parameter: str) -> bool:
    return any(phrase in line and parameter in line.split(phrase, 1)[1]
               for line in output.splitlines())


def test_restart_policy_never_reports_pending_restart(env_file):
    env_file.data["postgres"]["restart_policy"] = "never"
    env_file.write()
    apply(env_file.path, env_file.state_dir)
    started = postmaster_start(env_file.port)
    env_file.data["postgres"]["settings"]["shared_buffers"] = "144MB"
    env_file.write()
    run = apply(env_file.path, env_file.state_dir)
    assert _restart_notice(run.stderr, "needs a restart for:", "shared_buffers")
    assert postmaster_start(env_file.port) == started
    assert sql(env_file.port,
               "SELECT pending_restart FROM pg_settings WHERE name = 'shared_buffers'") == "t"
    again = apply(env_file.path, env_file.state_dir)
    assert again.changed == []
    assert _restart_notice(again.stderr, "waits for a restart for:", "shared_buffers")


def test_removed_setting_is_reset(env_file):
    env_file.data["postgres"]["settings"]["work_mem"] = "9MB"
    env_file.write()
    apply(env_file.path, env_file.state_dir)
    del env_file.data["postgres"]["settings"]["work_mem"]
    env_file.data["postgres"]["tuning"]["profile"] = "none"
    env_file.write()
    apply(env_file.path, env_file.state_dir)
    assert show(env_file.port, "work_mem") == "4MB"


def test_dry_run_on_converged_host_shows_no_change(env_file):
    apply(env_file.path, env_file.state_dir)
    plan = dry(env_file.path, env_file.state_dir)
    assert plan.changed == []


def test_dry_run_shows_exactly_the_settings_that_will_change(env_file):
    apply(env_file.path, env_file.state_dir)
    started = postmaster_start(env_file.port)
    env_file.data["postgres"]["settings"].update({"work_mem": "6MB", "shared_buffers": "176MB"})
    env_file.write()
    plan = dry(env_file.path, env_file.state_dir)
    assert len(plan.changed) == 1 and "Parameters" in plan.changed[0]
    changes = [line for line in plan.stderr.splitlines() if " -> " in line]
    assert len(changes) == 2, changes
    assert any("work_mem: " in line and "-> 6MB (reload)" in line for line in changes)
    assert any("shared_buffers:" in line and "-> 176MB (restart)" in line for line in changes)
    # The dry run touched nothing.
    assert show(env_file.port, "work_mem") != "6MB"
    assert postmaster_start(env_file.port) == started
    applied = apply(env_file.path, env_file.state_dir)
    assert applied.changed == plan.changed
