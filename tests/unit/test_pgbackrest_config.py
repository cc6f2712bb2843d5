"""Pure logic of `backups.method: pgbackrest`: what the file turns into (stanza config, archive
parameters, cron entry, plan), what validation refuses, and how `info` output is read."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pgstead.cli import main
from pgstead.cli.plan_files import plan_files
from pgstead.config.load import check_file
from pgstead.desired.backup_files import backup_files
from pgstead.desired.settings import desired_settings
from pgstead.facts.pgbackrest import parse_info
from pgstead.live.host import HostResources
from pgstead.render.pgbackrest import PITR_PROGRAM, render_stanza_config
from pgstead.server.select import server_for

BASE = """\
name: shop
postgres:
  version: 15
  cluster: shopdb
  port: 5499
{settings}tls: {{enabled: false, require: false}}
backups:
  method: {method}
  dir: /srv/backups/
  keep: 3
  compression: {compression}
{extra}"""


def environment(tmp_path: Path, *, method: str = "pgbackrest", compression: str = "zstd",
                settings: str = "", extra: str = ""):
    path = tmp_path / "shop.yml"
    path.write_text(BASE.format(method=method, compression=compression, settings=settings,
                                extra=extra))
    return check_file(path, resolve_secrets=False)


@pytest.mark.parametrize(("compression", "compress_type"),
                         [("zstd", "zst"), ("gzip", "gz"), ("none", "none")])
def test_stanza_config_follows_the_backups_section(tmp_path, compression, compress_type):
    env = environment(tmp_path, compression=compression).environment
    text = render_stanza_config(env, "/data/15/shopdb")
    assert text.splitlines()[1:] == [
        "[shopdb]",
        "pg1-path=/data/15/shopdb",
        "pg1-port=5499",
        "pg1-socket-path=/var/run/postgresql",
        "repo1-path=/srv/backups/pgbackrest",
        "repo1-retention-full=3",
        f"compress-type={compress_type}",
        "process-max=2",
        "start-fast=y",
    ]


def test_archiving_is_derived_only_for_pgbackrest(tmp_path):
    resources = HostResources(2 * 1024**3, 2)
    pitr = desired_settings(environment(tmp_path).environment, resources, "/etc/x")
    assert pitr["archive_mode"] == "on"
    assert pitr["archive_command"] == "pgbackrest --stanza=shopdb archive-push %p"
    dumps = desired_settings(environment(tmp_path, method="pg_dump").environment, resources,
                             "/etc/x")
    assert "archive_mode" not in dumps and "archive_command" not in dumps


def test_cron_entry_runs_the_pgbackrest_program_as_postgres(tmp_path):
    env = environment(tmp_path).environment
    planned = backup_files(env, server_for(env))
    job = planned.cron.splitlines()[-1]
    assert job == (f"0 2 * * * postgres {PITR_PROGRAM} --config /etc/pgstead/backup-shop.conf "
                   ">/dev/null 2>&1")
    assert "STANZA=shopdb" in planned.config.splitlines()


def test_plan_lists_the_stanza_config(tmp_path):
    files = {f.host_path: f for f in plan_files(environment(tmp_path).environment)}
    assert "[shopdb]" in files["/etc/pgbackrest/conf.d/shopdb.conf"].content


def test_own_archive_command_is_refused_with_pgbackrest(tmp_path):
    report = environment(tmp_path, settings="  settings:\n    archive_mode: 'on'\n")
    assert [(p.path, p.line) for p in report.errors] == [("postgres.settings.archive_mode", 7)]
    assert "pgstead archives WAL to the stanza itself" in report.errors[0].message


def test_own_archive_command_is_fine_with_pg_dump(tmp_path):
    report = environment(tmp_path, method="pg_dump",
                         settings="  settings:\n    archive_mode: 'on'\n")
    assert report.errors == []


def test_database_list_is_a_warning_with_pgbackrest(tmp_path):
    report = environment(tmp_path, extra="  databases: [shop]\ndatabases:\n"
                         "  - {name: shop, owner: shop_owner}\nusers:\n"
                         "  - {name: shop_owner, role: owner, database: shop, "
                         "password: {generate: true}}\n")
    assert report.errors == []
    assert any("whole cluster" in w.message for w in report.warnings)


def test_info_reads_a_missing_and_an_existing_stanza():
    missing = parse_info('[{"backup":[],"db":[],"name":"s","status":{"code":1,'
                         '"message":"missing stanza path"}}]')
    assert (missing.exists, missing.status) == (False, "missing stanza path")
    present = parse_info('[{"backup":[{"label":"20261123-231458F","type":"full"}],'
                         '"db":[{"id":1}],"name":"s","status":{"code":0,"message":"ok"}}]')
    assert present.exists and present.backups[0]["label"] == "20261123-231458F"
    assert parse_info("null") is None


@pytest.mark.parametrize(("method", "args", "fragment"), [
    ("pgbackrest", ["--database", "shop", "--to-time", "2026-11-23 12:00:00+00"],
     "--database, --from and --replace do not apply"),
    ("pgbackrest", [], "give --to-time TIME"),
    ("pgbackrest", ["--to-time", "2026-11-23 12:00:00"], "has no UTC offset"),
    ("pgbackrest", ["--to-time", "yesterday noon"], "is not a time"),
    ("pg_dump", ["--database", "shop", "--to-time", "2026-11-23 12:00:00+00"],
     "--to-time and --port need backups.method: pgbackrest"),
])
def test_restore_refuses_the_other_methods_options_before_reaching_a_host(
        tmp_path, monkeypatch, method, args, fragment):
    monkeypatch.setenv("PGSTEAD_STATE_DIR", str(tmp_path / "state"))
    environment(tmp_path, method=method)
    result = CliRunner().invoke(main, ["restore", str(tmp_path / "shop.yml"), "--host",
                                       "no-such-host", *args])
    assert result.exit_code == 2, result.output
    assert fragment in result.output


def test_global_repository_is_the_one_most_stanzas_share_and_the_same_for_every_order():
    from pgstead.facts.pgbackrest import PgBackRestStanzaRepos
    from pgstead.render.pgbackrest import WRITTEN_BY, global_repo, render_main_config

    assert global_repo({"main": "/srv/b/pgbackrest"}) == "/srv/b/pgbackrest"
    shared = {"a": "/srv/x/pgbackrest", "b": "/srv/y/pgbackrest", "c": "/srv/y/pgbackrest"}
    assert global_repo(shared) == "/srv/y/pgbackrest"
    tie = {"z": "/srv/b/pgbackrest", "a": "/srv/c/pgbackrest"}
    assert global_repo(tie) == global_repo(dict(reversed(tie.items()))) == "/srv/b/pgbackrest"
    text = render_main_config("/srv/b/pgbackrest")
    assert text.startswith(WRITTEN_BY + "\n")
    assert text.endswith("[global]\nrepo1-path=/srv/b/pgbackrest\n")
    # Only files pgstead wrote are read back; the admin's own are not.
    fact = PgBackRestStanzaRepos()
    assert fact.process(["main.conf\t/srv/b/pgbackrest", "junk"]) == {"main": "/srv/b/pgbackrest"}
