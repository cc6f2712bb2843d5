"""Facts of a balancer: a daemon started by its Debian package (not by pgstead)."""

from __future__ import annotations

from pyinfra.api import FactBase, QuoteString, StringCommand

# Debian's init scripts start these with the package's own config; ours read /etc/pgstead/.
# [h], [k]: a pattern never matches the shell that carries it.
PACKAGE_PATTERNS = {
    "haproxy": "[h]aproxy .*-f /etc/haproxy/haproxy.cfg",
    "keepalived": "^/usr/sbin/[k]eepalived( -D)?$",
}


class PackageDaemon(FactBase):
    """True when a daemon matching `pattern` (pgrep -f) runs here."""

    def command(self, pattern: str) -> StringCommand:
        return StringCommand("pgrep", "-f", QuoteString(pattern), ">/dev/null", "&&", "echo",
                             "running", "||", "echo", "stopped")

    def process(self, output: list[str]) -> bool:
        return output[-1] == "running"
