"""The one seam through which pgstead talks to a PostgreSQL server on a host.

A `Server` says how to run a client tool (psql, pg_dump, ...) as the postgres OS user
over the local socket: directly on a native install, or through `docker compose exec`
for a containerised one. Operations and facts build their commands here, so roles
never care which install mode they serve.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyinfra.api import QuoteString, StringCommand

from pgstead.server.patroni import PatroniNode

# psql flags for a script: no ~/.psqlrc, stop at the first error, quiet.
_SCRIPT_FLAGS = ("-X", "-q", "-v", "ON_ERROR_STOP=1")
# psql flags for a query whose single row/column is the answer (JSON in facts).
_QUERY_FLAGS = ("-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1")


@dataclass(frozen=True)
class Server:
    """One PostgreSQL server on a host, reachable over its local socket."""

    version: int
    cluster: str
    port: int
    # Prefix that runs a command inside the server's container (compose mode); empty on native.
    exec_prefix: tuple[str, ...] = ()
    # Port inside the container; the published port may differ.
    inner_port: int | None = None
    # Command that restarts the server and returns once it is back (or fails).
    restart: tuple[str, ...] = ()
    # Where the server reads its config and TLS files, as the server sees the path.
    conf_dir: str | None = None
    # Compose: the host directory mounted at conf_dir, and the image whose postgres user
    # must own the files there.
    host_conf_dir: str | None = None
    image: str | None = None
    # Set when Patroni runs this server (ha:): Patroni starts and stops it, owns its
    # parameters and pg_hba.conf, and only the leader takes writes.
    patroni: PatroniNode | None = None

    @property
    def managed_by(self) -> str:
        """Who starts and stops the server: ``pg_ctlcluster``, ``compose`` or ``patroni``."""
        if self.patroni is not None:
            return "patroni"
        return "pg_ctlcluster" if self.native else "compose"

    @property
    def parameters_by(self) -> str:
        """Where parameters are written: ``alter_system``, or ``patroni`` (its dynamic
        configuration and the member's own file; ALTER SYSTEM is per node and lost on
        failover)."""
        return "patroni" if self.patroni is not None else "alter_system"

    @property
    def hba_by(self) -> str:
        """Who writes pg_hba.conf: ``pgstead`` (the file, reloaded), or ``patroni`` (from the
        list in its config, which pgstead renders)."""
        return "patroni" if self.patroni is not None else "pgstead"

    @property
    def native(self) -> bool:
        return not self.exec_prefix

    @property
    def bindir(self) -> str:
        return f"/usr/lib/postgresql/{self.version}/bin"

    @property
    def config_dir(self) -> str:
        return self.conf_dir or f"/etc/postgresql/{self.version}/{self.cluster}"

    def host_path(self, path: str) -> str:
        """Where a file the server reads at `path` lives on the host (differs in a container)."""
        base = self.config_dir
        if self.host_conf_dir and (path == base or path.startswith(base + "/")):
            return self.host_conf_dir + path[len(base):]
        return path

    @property
    def socket_port(self) -> int:
        return self.inner_port or self.port

    def tool(self, name: str) -> list[object]:
        """Command bits that run a client tool as postgres against this server's socket."""
        if self.native:
            prefix: list[object] = ["runuser", "-u", "postgres", "--", f"{self.bindir}/{name}"]
        else:
            prefix = [QuoteString(bit) for bit in self.exec_prefix] + [name]
        return [*prefix, "-p", str(self.socket_port)]

    def restart_command(self) -> StringCommand:
        restart = self.restart or ("pg_ctlcluster", str(self.version), self.cluster, "restart")
        return StringCommand(*[QuoteString(bit) for bit in restart])

    def __str__(self) -> str:
        return f"{self.version}/{self.cluster}:{self.port}"


def psql_script(server: Server, script: str, *, database: str = "postgres",
                single_transaction: bool = True) -> StringCommand:
    """A psql run whose SQL arrives on stdin, so that nothing in it reaches a command line."""
    bits = [*server.tool("psql"), *_SCRIPT_FLAGS, "-d", QuoteString(database)]
    if single_transaction:
        bits.append("-1")
    bits += ["-f", "-"]
    return StringCommand(*bits, _stdin=script)


def psql_query(server: Server, query: str, *, database: str = "postgres") -> StringCommand:
    """A psql run printing one unaligned value; for facts. The query must hold no secret."""
    return StringCommand(
        *server.tool("psql"), *_QUERY_FLAGS, "-d", QuoteString(database), "-c", QuoteString(query)
    )


def psql_commands(server: Server, statements: list[str], *, database: str = "postgres"
                  ) -> StringCommand:
    """psql running each statement as its own -c (outside a transaction block).

    For statements that must not run in a transaction, such as ALTER SYSTEM, and that hold no
    secret: they stay readable in the plan.
    """
    bits = [*server.tool("psql"), *_SCRIPT_FLAGS, "-d", QuoteString(database)]
    for statement in statements:
        bits += ["-c", QuoteString(statement)]
    return StringCommand(*bits)


def when_ready(server: Server, command: StringCommand, otherwise: str = "null") -> StringCommand:
    """Run `command` if the server accepts connections, else print `otherwise`.

    Facts use this so that a plan made before the cluster exists reads "nothing there yet"
    instead of failing the host.
    """
    # </dev/null: through `compose exec` the probe would otherwise eat the command's stdin.
    probe = [*server.tool("pg_isready"), "-q", "</dev/null"]
    return StringCommand(
        "if", *probe, "2>/dev/null;", "then", command, ";", "else", "echo", QuoteString(otherwise),
        ";", "fi",
    )
