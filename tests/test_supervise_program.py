"""pgstead-supervise itself, the real script with real processes, in a private mount namespace
whose /run/pgstead, /etc/pgstead/supervise and /var/log/pgstead are empty tmpfs mounts (so
the daemons of other tests on this machine are neither seen nor stopped): a killed daemon is
started again, its environment holds nothing of the caller's, `shutdown` stops by stop order
(front, Patroni's tier, etcd's tier) and `boot` brings every recorded daemon back."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from pgstead.operations.daemon import HOST_FILES

SCRIPT = HOST_FILES / "pgstead-supervise"

# Each fake daemon notes its start, its environment and its stop (on SIGTERM) in $out.
FAKE = ('echo "start $0" >>"$OUT/events"; env >"$OUT/env-$0"; '
        'trap \'echo "stop $0" >>"$OUT/events"; exit 0\' TERM; '
        'while :; do sleep 0.1; done')

DRIVER = r"""
set -eu
for d in /run/pgstead /etc/pgstead/supervise /var/log/pgstead; do
    mkdir -p "$d"; mount -t tmpfs -o mode=0755 none "$d"
done
sup=$SUP
trap '$sup shutdown >/dev/null 2>&1 || true' EXIT  # nothing outlives the test
started() { i=0; until [ "$(grep -c "^start $1\$" "$OUT/events" 2>/dev/null)" -ge "$2" ]; do
    i=$((i + 1)); [ $i -lt 1200 ] || { echo "timeout waiting for $1 x$2"; exit 1; }
    sleep 0.1; done; }
# Names and stop orders as the roles give them: front daemons 1, Patroni 2, etcd 3.
fake() { name=$1 order=$2; shift 2
    $sup start "$name" postgres "d$order" --stop-order="$order" --stop-seconds=30 "$@" -- \
        OUT="$OUT" /bin/sh -c "$FAKE" "$name"; }
fake etcdlike 3
fake patronilike 2
fake front 1 --log=/var/log/pgstead/front-own.log
for n in etcdlike patronilike front; do started $n 1; done
echo "status $($sup status front)"
kill -9 "$(cat /run/pgstead/front.child)"
started front 2
echo "after-kill $($sup status front)"
$sup shutdown
echo "stopped $($sup status front) $($sup status patronilike) $($sup status etcdlike)"
mv "$OUT/events" "$OUT/events-shutdown"
$sup boot
for n in etcdlike patronilike front; do started $n 1; done
echo "booted $($sup status etcdlike)"
$sup remove front
echo "removed $($sup status front) $(ls /etc/pgstead/supervise | tr '\n' ' ')"
grep -q "front exited (137), starting it again" /var/log/pgstead/front-own.log && echo logged
$sup shutdown
"""


@pytest.fixture()
def work():
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare (util-linux)")
    directory = Path(tempfile.mkdtemp(prefix="pgstead-supervise-"))
    directory.chmod(0o777)  # the fake daemons run as postgres
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_restart_clean_environment_ordered_shutdown_and_boot(work):
    environ = {"PATH": os.environ["PATH"], "SUP": str(SCRIPT), "OUT": str(work), "FAKE": FAKE,
               "PGSTEAD_TEST_PASSWORD": "must-not-reach-the-daemon"}
    run = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", DRIVER],
                         capture_output=True, text=True, env=environ, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert "status running d1" in lines
    assert "after-kill running d1" in lines  # the same loop, a new child
    assert "stopped stopped stopped stopped" in lines, lines
    assert "booted running d3" in lines
    assert "logged" in lines  # the loop's note of the restart, in the daemon's own log
    assert "removed stopped etcdlike patronilike " in lines
    events = (work / "events-shutdown").read_text().splitlines()
    assert [line for line in events if line.startswith("stop ")] == [
        "stop front", "stop patronilike", "stop etcdlike"]
    assert events.count("start front") == 2  # started again after its SIGKILL
    env = (work / "env-front").read_text().splitlines()
    names = {line.split("=", 1)[0] for line in env}
    assert "PGSTEAD_TEST_PASSWORD" not in names and "SUP" not in names
    assert {"PATH", "HOME", "USER", "OUT"} <= names
    assert "USER=postgres" in env
