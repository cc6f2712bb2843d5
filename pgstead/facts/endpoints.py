"""Facts of a balancer: an HAProxy started by Debian's package (not by pgstead)."""

from __future__ import annotations

from pyinfra.api import FactBase

# The package's init script starts haproxy -f /etc/haproxy/haproxy.cfg; ours reads
# /etc/pgstead/haproxy/haproxy.cfg.
# [h]: the pattern never matches the shell that carries it.
PACKAGE_PATTERN = "[h]aproxy .*-f /etc/haproxy/haproxy.cfg"


class PackageHaproxy(FactBase):
    """True when an HAProxy with the package's own config runs here."""

    def command(self) -> str:
        return f"pgrep -f '{PACKAGE_PATTERN}' >/dev/null && echo running || echo stopped"

    def process(self, output: list[str]) -> bool:
        return output[-1] == "running"
