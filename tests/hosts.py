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
from dataclasses import dataclass
from pathlib import Path

import pytest

HOST_IMAGE = "pgstead/host:bookworm"


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


@dataclass(frozen=True)
class Fleet:
    network: str
    subnet: str
    key: Path
    hosts: tuple[FleetHost, ...]

    def host(self, name: str) -> FleetHost:
        return next(h for h in self.hosts if h.name == name)

    def start_again(self, h: FleetHost) -> None:
        """Start a stopped host (as after a crash: only sshd comes back) on its old address."""
        docker("start", h.container)
        address = container_address(h.container, self.network)
        assert address == h.address, f"{h.name} came back on {address}, not {h.address}"
        wait_for_ssh(self.key, h)

    def write_inventory(self, path: Path, names: list[str] | None = None,
                        **data: object) -> Path:
        """A pyinfra inventory .py for the fleet (or the named hosts), `data` on every host."""
        chosen = [h for h in self.hosts if names is None or h.name in names]
        rows = []
        for h in chosen:
            host_data = {
                "ssh_hostname": h.address, "ssh_user": h.user, "ssh_key": str(self.key),
                "ssh_known_hosts_file": "/dev/null", "ssh_strict_host_key_checking": "off",
                **({"_sudo": True} if h.sudo else {}), **data,
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


@contextmanager
def fleet(directory: Path, names: list[str], sudo: tuple[str, ...] = ()) -> Iterator[Fleet]:
    """Start one pgstead/host container per name on a new network; remove them afterwards.

    Hosts named in `sudo` are reached as `deploy` with `_sudo: True`, the others as root.
    """
    if not docker_answers():
        pytest.skip("Docker engine not running (`docker info` failed); run .ci/services")
    require_image(HOST_IMAGE)
    key = make_ssh_key(directory)
    public_key = key.with_suffix(".pub").read_text().strip()
    network = unique("pgstead-fleet-net")
    containers = [f"{network.replace('-net-', '-')}-{name}" for name in names]
    docker("network", "create", network)
    try:
        started = []
        for name, container in zip(names, containers, strict=True):
            docker("run", "--detach", "--name", container, "--hostname", name,
                   "--network", network, "--env", f"AUTHORIZED_KEY={public_key}", HOST_IMAGE)
            user = "deploy" if name in sudo else "root"
            started.append(FleetHost(name, container, container_address(container, network),
                                     user, name in sudo))
        for h in started:
            wait_for_ssh(key, h)
        yield Fleet(network, _network_subnet(network), key, tuple(started))
    finally:
        for container in containers:
            docker("rm", "--force", "--volumes", container, check=False)
        docker("network", "rm", network, check=False)
