"""Daemons that must run, on hosts with or without systemd."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation

from pgstead.facts.service import Daemon


@operation()
def running(service: str, process: str | None = None):
    """
    Ensure a daemon runs, starting it with systemd when systemd is PID 1, else its init script.

    + service: the service (unit and /etc/init.d script) name
    + process: the process name to look for, when it differs from ``service``

    pyinfra's ``server.service`` picks systemd whenever systemctl exists, which fails in
    containers and chroots where systemd is installed but not running.

    **Example:**

    .. code:: python

        service.running(service="cron")
    """
    state = host.get_fact(Daemon, process=process or service)
    if state.running:
        host.noop(f"{service} is running")
        return
    if state.systemd:
        yield StringCommand("systemctl", "enable", "--now", QuoteString(service))
    else:
        yield StringCommand(QuoteString(f"/etc/init.d/{service}"), "start")
