"""Fresh-VM hosts for tests: pgstead/host containers on a Docker network of the test's own.

The low-level helpers (docker, ssh, waiting) serve every container test; `fleet()` starts N
hosts, reachable by an ed25519 key made for the test, and writes a pyinfra inventory for them.
Teardown removes the containers and the network whatever the test did.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HOST_IMAGE = "pgstead/host:bookworm"
SYSTEMD_HOST_IMAGE = "pgstead/host-systemd:bookworm"
# What systemd needs as PID 1 in an unprivileged container (tests/images/systemd): the host's
# cgroups to read, and its own /run. No --init: systemd reaps, and must be PID 1.
SYSTEMD_RUN = ("--volume", "/sys/fs/cgroup:/sys/fs/cgroup:ro", "--tmpfs", "/run",
               "--tmpfs", "/run/lock")


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["docker", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def require_image(image: str) -> None:
    if docker("image", "inspect", image, check=False).returncode != 0:
        pytest.fail(f"image {image} is missing: run tests/images/build (or .ci/services)")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_until(probe, what: str, container: str, timeout: float = 90) -> None:
    """Poll `probe()` until it is true; on timeout show the container's log to say why."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        running = docker("inspect", "-f", "{{.State.Running}}", container, check=False)
        if running.stdout.strip() == "false":
            break
        time.sleep(0.5)
    logs = docker("logs", "--tail", "40", container, check=False)
    pytest.fail(f"{container}: {what} did not happen\n{logs.stdout}{logs.stderr}")


class Host:
    def __init__(self, name: str, address: str) -> None:
        self.name = name
        self.address = address


def make_ssh_key(directory: Path) -> Path:
    key = directory / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pgstead-test", "-f", str(key)],
        check=True,
    )
    return key


def ssh(key: Path, user: str, host: Host, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "ssh", "-i", str(key),
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR",
            f"{user}@{host.address}", command,
        ],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def container_address(container: str, network: str) -> str:
    template = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
    return docker("inspect", "-f", template, container).stdout.strip()


@dataclass(frozen=True)
class FleetHost:
    """One fresh-VM container as pyinfra sees it."""

    name: str  # inventory name and the container's hostname (so: a name in its certificate)
    container: str
    address: str
    user: str  # root, or deploy with sudo
    sudo: bool

    def exec(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command in the container as root, outside any ssh session."""
        return docker("exec", self.container, *command, check=check)


@dataclass
class Fleet:
    network: str
    subnet: str
    key: Path
    hosts: tuple[FleetHost, ...]
    extra: list[str] = field(default_factory=list)  # containers added later, removed too
    volumes: tuple[str, ...] = ()  # SOURCE:PATH mounted into every host, added ones too
    systemd: bool = False  # the hosts boot systemd (a *-systemd image)

    def add(self, name: str, *, image: str = HOST_IMAGE, init: bool = False,
            env: dict[str, str] | None = None) -> FleetHost:
        """One more host on the network (the next static address when it has a /24)."""
        container = f"{self.network.replace('-net-', '-')}-{name}"
        prefix = self.subnet.rsplit(".", 1)[0]
        address = f"{prefix}.{11 + len(self.hosts)}" if self.subnet.endswith("/24") else None
        self.extra.append(container)
        h = start_host(self.network, self.key, name, container, image=image, sudo=False,
                       address=address, init=init, env=env or {}, volumes=self.volumes,
                       systemd=self.systemd)
        wait_for_ssh(self.key, h)
        self.hosts = (*self.hosts, h)
        return h

    def host(self, name: str) -> FleetHost:
        return next(h for h in self.hosts if h.name == name)

    def start_again(self, h: FleetHost) -> None:
        """Start a stopped host (as after a crash: only sshd comes back) on its old address."""
        docker("start", h.container)
        address = container_address(h.container, self.network)
        assert address == h.address, f"{h.name} came back on {address}, not {h.address}"
        wait_for_ssh(self.key, h)

    def restart(self, h: FleetHost, seconds: int = 120) -> None:
        """`docker restart` a host, as a reboot: stopped with the image's stop signal (systemd
        shuts its units down in order) within `seconds`, started again on its old address."""
        docker("restart", "--time", str(seconds), h.container)
        address = container_address(h.container, self.network)
        assert address == h.address, f"{h.name} came back on {address}, not {h.address}"
        wait_for_ssh(self.key, h)

    def write_inventory(self, path: Path, names: list[str] | None = None,
                        per_host: dict[str, dict] | None = None, **data: object) -> Path:
        """A pyinfra inventory .py for the fleet (or the named hosts), `data` on every host and
        `per_host[name]` on that one."""
        chosen = [h for h in self.hosts if names is None or h.name in names]
        rows = []
        for h in chosen:
            host_data = {
                "ssh_hostname": h.address, "ssh_user": h.user, "ssh_key": str(self.key),
                "ssh_known_hosts_file": "/dev/null", "ssh_strict_host_key_checking": "off",
                **({"_sudo": True} if h.sudo else {}), **data, **(per_host or {}).get(h.name, {}),
            }
            rows.append(f"    ({h.name!r}, {host_data!r}),")
        path.write_text("hosts = [\n" + "\n".join(rows) + "\n]\n")
        return path


def wait_for_ssh(key: Path, h: FleetHost, timeout: float = 60) -> None:
    target = Host(h.container, h.address)
    wait_until(lambda: ssh(key, h.user, target, "true").returncode == 0,
               f"ssh login as {h.user}", h.container, timeout=timeout)


def _network_subnet(network: str) -> str:
    return docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}",
                  network).stdout.strip()


def _create_network(network: str, static: bool) -> None:
    """A network of the test's own; `static`: with a /24 of its own, so hosts get fixed
    addresses (.11, .12, ...) that survive a restart, as cluster members need."""
    if not static:
        docker("network", "create", network)
        return
    for _ in range(20):
        third = uuid.uuid4().int % 250 + 2
        subnet = f"10.231.{third}.0/24"
        if docker("network", "create", "--subnet", subnet, network,
                  check=False).returncode == 0:
            return
    raise AssertionError("no free 10.231.x.0/24 subnet for a static test network")


def start_host(network: str, key: Path, name: str, container: str,
               *, image: str, sudo: bool, address: str | None, init: bool,
               env: dict[str, str], caps: tuple[str, ...] = (),
               volumes: tuple[str, ...] = (), systemd: bool = False) -> FleetHost:
    public_key = key.with_suffix(".pub").read_text().strip()
    args = ["run", "--detach", "--name", container, "--hostname", name, "--network", network,
            "--env", f"AUTHORIZED_KEY={public_key}"]
    for k, v in env.items():
        args += ["--env", f"{k}={v}"]
    if address:
        args += ["--ip", address]
    if init and systemd:
        raise ValueError("a systemd host runs systemd as PID 1, not docker's --init")
    if init:
        args.append("--init")
    if systemd:
        args += SYSTEMD_RUN
    for cap in caps:
        args += ["--cap-add", cap]
    for volume in volumes:
        args += ["--volume", volume]
    docker(*args, image)
    user = "deploy" if sudo else "root"
    return FleetHost(name, container, container_address(container, network), user, sudo)


@contextmanager
def fleet(directory: Path, names: list[str], sudo: tuple[str, ...] = (), *,
          image: str = HOST_IMAGE, static: bool = False, init: bool = False,
          env: dict[str, str] | None = None, caps: tuple[str, ...] = (),
          volumes: tuple[str, ...] = (), systemd: bool = False) -> Iterator[Fleet]:
    """Start one pgstead/host container per name on a new network; remove them afterwards.

    Hosts named in `sudo` are reached as `deploy` with `_sudo: True`, the others as root.
    `static` gives them fixed addresses, `init` runs them under docker's --init (a PID 1 that
    reaps the daemons pgstead starts), `env` is set in each container, `caps` are added
    capabilities (NET_ADMIN for keepalived's virtual address), `volumes` are mounted into
    every host (a shared directory, as NFS would be between VMs), `systemd` starts them as
    systemd needs to boot as PID 1 (with a *-systemd image; not with `init`).
    """
    if not docker_answers():
        pytest.skip("Docker engine not running (`docker info` failed); run .ci/services")
    require_image(image)
    key = make_ssh_key(directory)
    network = unique("pgstead-fleet-net")
    containers = [f"{network.replace('-net-', '-')}-{name}" for name in names]
    _create_network(network, static)
    extra: list[str] = []
    try:
        subnet = _network_subnet(network)
        prefix = subnet.rsplit(".", 1)[0]
        started = []
        for i, (name, container) in enumerate(zip(names, containers, strict=True)):
            started.append(start_host(network, key, name, container, image=image,
                                      sudo=name in sudo,
                                      address=f"{prefix}.{11 + i}" if static else None,
                                      init=init, env=env or {}, caps=caps,
                                      volumes=volumes, systemd=systemd))
        for h in started:
            wait_for_ssh(key, h)
        made = Fleet(network, subnet, key, tuple(started), volumes=volumes, systemd=systemd)
        made.extra = extra
        yield made
    finally:
        for container in [*containers, *extra]:
            docker("rm", "--force", "--volumes", container, check=False)
        docker("network", "rm", network, check=False)
