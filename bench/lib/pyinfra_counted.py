"""Run the pyinfra CLI with every remote command attributed to the fact or operation behind it.

    python bench/lib/pyinfra_counted.py REPORT.json [pyinfra arguments...]

The pyinfra CLI runs unchanged in this process; three functions are wrapped first:
`pyinfra.api.facts._get_fact` (which fact is being read, in which stage),
`SSHConnector.run_shell_command` (one SSH exec channel = one remote command), and
`SSHConnector._put_file` (one SFTP upload, which runs no command but costs round trips).
On exit REPORT.json holds one record per command: host, stage, fact or operation, seconds.
The host-side count (a logging login shell, see bench/converge) is the exact total; this is
the breakdown, and the two are compared in every run.
"""

from __future__ import annotations

import atexit
import json
import sys
import time
from collections import defaultdict

import gevent
from pyinfra.api import facts
from pyinfra.connectors.ssh import SSHConnector
from pyinfra_cli.main import main

RECORDS: list[dict] = []
# The fact each greenlet (one per host) is reading right now, innermost last.
_fact_stack: dict[int, list[str]] = defaultdict(list)


def _stage(state) -> str:
    return getattr(state.current_stage, "name", str(state.current_stage))


def _operation(host) -> str:
    op_hash = host.nested_executing_op_hash or host.executing_op_hash
    if op_hash is None:
        return ""
    names = host.state.get_op_meta(op_hash).names
    return ", ".join(sorted(names))


def _counting_get_fact(original):
    def get_fact(state, host, cls, *args, **kwargs):
        stack = _fact_stack[id(gevent.getcurrent())]
        stack.append(cls.__module__.rsplit(".", 1)[-1] + "." + cls.__name__)
        try:
            return original(state, host, cls, *args, **kwargs)
        finally:
            stack.pop()
    return get_fact


def _record(connector, kind: str, started: float) -> None:
    stack = _fact_stack[id(gevent.getcurrent())]
    host = connector.host
    RECORDS.append({
        "host": host.name, "kind": kind,
        "stage": _stage(host.state),
        "fact": stack[-1] if stack else "",
        "operation": _operation(host),
        "deploy": host.current_deploy_name or "",
        "seconds": time.perf_counter() - started,
    })


def _counting_run(original):
    def run_shell_command(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            _record(self, "command", started)
    return run_shell_command


def _counting_put(original):
    def put_file(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            _record(self, "upload", started)
    return put_file


def _write(path: str) -> None:
    with open(path, "w") as out:
        json.dump(RECORDS, out)


if __name__ == "__main__":
    report = sys.argv.pop(1)
    atexit.register(_write, report)
    facts._get_fact = _counting_get_fact(facts._get_fact)
    SSHConnector.run_shell_command = _counting_run(SSHConnector.run_shell_command)
    SSHConnector._put_file = _counting_put(SSHConnector._put_file)
    sys.argv[0] = "pyinfra"
    sys.exit(main())
