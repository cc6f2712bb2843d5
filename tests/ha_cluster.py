"""A Patroni + etcd cluster of containers over SSH, for the HA test modules: the hosts, the
environment file beside their inventory, pyinfra runs, and reads of what the cluster does."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import yaml

from pgstead.operations.members import etcdctl
from pgstead.render.ha_layout import ETCD_CLIENT_PORT, PATRONI_DIR
from tests.hosts import Fleet, FleetHost, fleet
from tests.pgstead_run import Run, pyinfra

HA_IMAGE = "pgstead/ha-host:bookworm"
HA_SYSTEMD_IMAGE = "pgstead/ha-host-systemd:bookworm"  # the same, booted by systemd
FRESH_IMAGE = "pgstead/host:bookworm"
PORT = 5432
DATABASE = "app"
WRITER = "app_owner"
# The host image runs what runlevel 2 would start at boot when the container starts again.
BOOT = {"PGSTEAD_HOST_BOOT": "rc"}


def environment(name: str, subnet: str, **ha: object) -> dict:
    return {
        "name": name,
        "postgres": {
            "version": 15, "port": PORT, "listen_addresses": ["*"],
            "tuning": {"profile": "web", "memory": "512MB", "cpus": 2},
            "settings": {"max_connections": 40, "log_connections": "on"},
        },
        "tls": {"enabled": True, "ca": "generate", "require": True},
        "databases": [{"name": DATABASE, "owner": WRITER}],
        "users": [
            {"name": WRITER, "password": {"generate": True}, "role": "owner",
             "database": DATABASE},
        ],
        "hba": [{"type": "hostssl", "database": DATABASE, "user": WRITER, "address": subnet,
                 "method": "scram-sha-256"}],
        "ha": {"engine": "patroni", "synchronous": "on", "ttl": 10, "loop_wait": 2,
               "retry_timeout": 4, **ha},
    }


@dataclass
class Cluster:
    fleet: Fleet
    directory: Path
    inventory: Path
    env_path: Path
    state_dir: Path
    name: str
    first: Run | None = None
    first_seconds: float = 0.0
    fresh_dry: Run | None = None  # a dry run before the first apply, where a module keeps one

    @property
    def data(self) -> dict:
        return yaml.safe_load(self.env_path.read_text())

    def write(self, data: dict) -> None:
        self.env_path.write_text(yaml.safe_dump(data, sort_keys=False))

    @property
    def ca(self) -> Path:
        return self.state_dir / self.name / "pki" / "ca.crt"

    def password(self, user: str = WRITER) -> str:
        return (self.state_dir / self.name / "secrets" / f"{user}.password").read_text().strip()

    def run(self, *args: str) -> Run:
        return pyinfra(str(self.inventory), *args, state_dir=self.state_dir)

    def write_inventory(self) -> None:
        self.fleet.write_inventory(self.inventory)

    def first_apply(self, what: str) -> None:
        """The module's first apply, asserted to succeed, its time shown on stderr."""
        started = time.monotonic()
        self.first = self.run()
        self.first_seconds = time.monotonic() - started
        assert_ok(self.first, "first apply")
        print(f"\n{what}: first apply took {self.first_seconds:.0f} s", file=sys.stderr)

    def patroni(self, h: FleetHost) -> dict | None:
        out = h.exec("/usr/local/sbin/pgstead-patroni", "/etc/patroni/pgstead.yml", "state",
                     check=False)
        try:
            return json.loads(out.stdout) if out.returncode == 0 else None
        except ValueError:
            return None

    def _leading(self) -> tuple[FleetHost, dict] | None:
        """The running primary and its Patroni state."""
        for h in self.fleet.hosts:
            state = self.patroni(h)
            if state and state["member"].get("role") in ("master", "primary") \
                    and state["member"].get("state") == "running":
                return h, state
        return None

    def leader(self) -> FleetHost | None:
        leading = self._leading()
        return leading[0] if leading else None

    def synchronous_standby(self) -> FleetHost | None:
        """The member the leader shows as its synchronous standby. In synchronous mode Patroni
        promotes only that member: while there is none (a member just rejoined and is not yet
        synchronous), no standby is known to hold every acknowledged commit, and a killed
        leader is replaced by nobody. A test that kills the leader first waits for one."""
        leading = self._leading()
        state = leading[1] if leading else {}
        for m in state.get("cluster", {}).get("members", []):
            if m.get("role") == "sync_standby":
                return self.fleet.host(m["name"])
        return None

    def new_leader(self, old: FleetHost | None, timeout: float = 180) -> FleetHost:
        """Wait until a member other than `old` leads. Failing, the error shows what each
        member's Patroni says and the end of its log: the containers are gone afterwards."""
        try:
            return wait_for(lambda: (h := self.leader()) is not None and h is not old and h,
                            "a new leader", timeout=timeout)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.story()}") from None

    def story(self) -> str:
        """Each member's Patroni state and the last lines of its log, for a failure message."""
        parts = []
        for h in self.fleet.hosts:
            log = h.exec("sh", "-c", "tail -n 40 /var/log/pgstead/patroni.log 2>/dev/null || "
                         "journalctl -u pgstead-patroni -n 40 --no-pager", check=False)
            parts.append(f"== {h.name}: {self.patroni(h)}\n{log.stdout[-5000:]}")
        return "\n".join(parts)

    def _etcd(self) -> tuple[dict[int, FleetHost | None], FleetHost | None]:
        """({etcd member id: its host}, the leader's host) as the members that answer report
        them; no leader while they disagree (one has not heard of a new leader yet)."""
        by_address = {m.address: m for m in self.fleet.hosts}
        for h in self.fleet.hosts:
            out = h.exec(*self._etcdctl, "endpoint", "status", "-w", "json", check=False)
            try:
                rows = json.loads(out.stdout)
            except ValueError:
                continue
            found = {r["Status"]["header"]["member_id"]:
                     by_address.get(r["Endpoint"].split("//")[1].split(":")[0]) for r in rows}
            leaders = {r["Status"]["leader"] for r in rows}
            return found, found.get(leaders.pop()) if len(leaders) == 1 else None
        return {}, None

    @property
    def _etcdctl(self) -> tuple[str, ...]:
        return etcdctl(PATRONI_DIR, [f"https://{m.address}:{ETCD_CLIENT_PORT}"
                                     for m in self.fleet.hosts])

    def etcd_leader(self) -> FleetHost | None:
        """The host whose etcd member leads etcd, as the members that answer agree."""
        return self._etcd()[1]

    def move_etcd_leader(self, to: FleetHost) -> None:
        member = next(i for i, h in self._etcd()[0].items() if h is to)
        to.exec(*self._etcdctl, "move-leader", format(member, "x"))

    def sql(self, h: FleetHost, query: str) -> str:
        return h.exec("runuser", "-u", "postgres", "--", "psql", "-X", "-A", "-t", "-p",
                      str(PORT), "-c", query).stdout.strip()

    def multi_host_url(self, **params: str) -> str:
        hosts = ",".join(h.address for h in self.fleet.hosts)
        extra = "".join(f" {k}={v}" for k, v in params.items())
        return (f"host={hosts} port={PORT} dbname={DATABASE} user={WRITER} "
                f"sslmode=verify-ca sslrootcert={self.ca} target_session_attrs=read-write "
                f"connect_timeout=2 tcp_user_timeout=2000 keepalives=1 keepalives_idle=1 "
                f"keepalives_interval=1 keepalives_count=2{extra}")

    def connect(self, **params: str) -> psycopg.Connection:
        return psycopg.connect(self.multi_host_url(**params), password=self.password(),
                               autocommit=True)


def wait_for(probe, what: str, timeout: float = 180, every: float = 0.5):
    """Poll `probe()` until it returns something true; fail saying `what` otherwise."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = probe()
        except Exception as error:  # a member restarting refuses connections for a moment
            last = error  # kept for the failure message; an exception is never success
        else:
            if result:
                return result
            last = result
        time.sleep(every)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s (last: {last!r})")


def changes(run: Run) -> set[tuple[str, str]]:
    """(operation, host) pairs an apply changed, or a dry run says it would change."""
    assert run.report is not None, run.stderr[-4000:]
    if run.report.get("results"):
        return {(op["name"], h) for op in run.report["results"]["operations"]
                for h in op["success"]}
    return {(op["name"], h) for op in run.report["plan"] for h in op["hosts_with_change"]}


def unnamed(found: set[tuple[str, str]], names: list[str]) -> set[tuple[str, str]]:
    """`found` with the member names inside operation names replaced by "*": pyinfra names
    an operation called with a per-host name ("Patroni config of db2") after whichever host
    planned it first, which two runs need not agree on."""
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    return {(pattern.sub("*", op), h) for op, h in found}


def assert_ok(run: Run, what: str) -> None:
    assert run.returncode == 0, f"{what} failed:\n{run.stdout[-3000:]}\n{run.stderr[-8000:]}"


def assert_converged(target, what: str = "second apply") -> None:
    """Apply `target` (anything with `run(*args)`: a cluster, a single host) again, then dry-run
    it: neither changes anything on any host."""
    again = target.run()
    assert_ok(again, what)
    assert changes(again) == set(), sorted(changes(again))
    dry = target.run("--dry")
    assert_ok(dry, "dry run")
    assert changes(dry) == set(), sorted(changes(dry))


@contextmanager
def ha_cluster(directory: Path, names: list[str], *, image: str | None = None,
               name: str = "hatest", caps: tuple[str, ...] = (), systemd: bool = False,
               **ha: object) -> Iterator[Cluster]:
    """Start the hosts (with the extra capabilities `caps`; booted by systemd with
    `systemd`, from the HA image's systemd variant unless `image` is given) and write the
    inventory and environment; the caller applies."""
    if systemd:
        image = image or HA_SYSTEMD_IMAGE
        boot = {"init": False, "env": {}, "systemd": True}
    else:
        image = image or os.environ.get("PGSTEAD_HA_TEST_IMAGE") or HA_IMAGE
        boot = {"init": True, "env": BOOT}
    with fleet(directory, names, image=image, static=True, caps=caps, **boot) as hosts:
        inventory = directory / f"{name}.py"
        hosts.write_inventory(inventory)
        env_path = directory / f"{name}.yml"
        env_path.write_text(yaml.safe_dump(environment(name, hosts.subnet, **ha),
                                           sort_keys=False))
        yield Cluster(hosts, directory, inventory, env_path, directory / "state", name)
