"""A bad file deployed to three hosts over SSH is reported once, without a traceback, exit 2,
and no host is touched; an HA file the inventory's hosts cannot make a cluster of likewise.

pyinfra runs deploy.py for every host at once; before the fix it printed the problems once
per host and then a 40-line gevent traceback (SystemExit raised inside a greenlet).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hosts import Fleet, fleet
from tests.pgstead_run import pyinfra

pytestmark = [pytest.mark.docker]

NAMES = ["db1", "db2", "db3"]
STAMP = "/root/pgstead-test-stamp"
# What a deploy would change first: packages, configuration, data, pgstead's own programs.
WATCHED = "/etc /var/lib /usr/local /opt"


@pytest.fixture(scope="module")
def hosts(tmp_path_factory) -> Fleet:
    with fleet(tmp_path_factory.mktemp("fleet"), NAMES) as started:
        for h in started.hosts:
            h.exec("touch", STAMP)
        yield started


def _changed_since_stamp(started: Fleet) -> dict[str, str]:
    out = {}
    for h in started.hosts:
        found = h.exec("sh", "-c", f"find {WATCHED} -xdev -newer {STAMP} -print 2>/dev/null; "
                       "true").stdout.strip()
        if found:
            out[h.name] = found
    return out


def _deploy(started: Fleet, tmp_path: Path, environment: str, twice: str | None = None):
    """The real pyinfra CLI on deploy.py over the fleet; `twice` lists that host twice."""
    env = tmp_path / "prod.yml"
    env.write_text(environment)
    inventory = started.write_inventory(tmp_path / "prod.py")
    if twice:
        # The same name twice: pyinfra keeps the second entry's data and drops the first.
        rows = inventory.read_text().splitlines()
        row = next(row for row in rows if f"'{twice}'" in row)
        inventory.write_text("\n".join([*rows[:-1], row, rows[-1]]) + "\n")
    run = pyinfra(str(inventory), env_file=env, state_dir=tmp_path / "state", json_report=False)
    return env, run


def _refused_once(run, message: str, started: Fleet) -> None:
    output = run.stdout + run.stderr
    assert run.returncode == 2, output
    assert output.count(message) == 1, output
    assert "Traceback" not in output, output
    assert "greenlet" not in output, output
    assert "Starting operation" not in output, output
    assert _changed_since_stamp(started) == {}


def test_unknown_key_on_three_hosts_is_reported_once(hosts: Fleet, tmp_path: Path):
    env, run = _deploy(hosts, tmp_path, "name: prod\npostgres:\n  prot: 5432\n")
    _refused_once(run, f"{env}:3: postgres.prot: unknown key 'prot'", hosts)
    assert not (tmp_path / "state").exists()


def test_ha_with_a_host_listed_twice_is_refused_once(hosts: Fleet, tmp_path: Path):
    env, run = _deploy(hosts, tmp_path, "name: prod\npostgres:\n  listen_addresses: ['*']\n"
                       "ha:\n  synchronous: on\n", twice="db1")
    _refused_once(run, f"{env}:4: ha: the inventory lists host db1 2 times", hosts)


def test_ha_naming_a_stranger_as_etcd_member_is_refused_once(hosts: Fleet, tmp_path: Path):
    env, run = _deploy(hosts, tmp_path, "name: prod\nha:\n  dcs:\n    hosts: [db1, db2, db9]\n")
    _refused_once(run, f"{env}:4: ha.dcs.hosts[2]: db9 is not a host of the inventory", hosts)
