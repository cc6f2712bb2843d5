"""Facts about a host's Docker engine, a PostgreSQL image, and a compose project's state."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyinfra.api import FactBase, QuoteString, StringCommand

from pgstead.render.compose import SPEC_LABEL

PG_MAJOR_LABEL = "org.pgstead.pg-major"


@dataclass(frozen=True)
class Engine:
    docker: bool  # the docker client is installed
    daemon: bool  # the engine answers `docker info`
    compose_v2: bool  # `docker compose` works
    compose_v1: bool  # `docker-compose` is installed
    systemd: bool  # the host runs systemd, which then manages the daemon


class DockerEngine(FactBase):
    """What of Docker and Compose the host has, and whether the daemon answers."""

    def command(self) -> str:
        checks = {
            "docker": "command -v docker",
            "daemon": "docker info",
            "compose-v2": "docker compose version",
            "compose-v1": "command -v docker-compose",
            "systemd": "test -d /run/systemd/system",
        }
        return " ; ".join(f"if {check} >/dev/null 2>&1; then echo {word}; fi"
                          for word, check in checks.items()) + " ; true"

    def process(self, output: list[str]) -> Engine:
        words = {line.strip() for line in output}
        return Engine(docker="docker" in words, daemon="daemon" in words,
                      compose_v2="compose-v2" in words, compose_v1="compose-v1" in words,
                      systemd="systemd" in words)


@dataclass(frozen=True)
class Image:
    id: str
    major: int | None  # PostgreSQL major the image runs, from its label, PG_MAJOR or postgres -V


class PostgresImage(FactBase):
    """The local image `image` names, or None when it is not on the host (not pulled yet)."""

    @staticmethod
    def default() -> None:
        return None

    def command(self, image: str) -> StringCommand:
        ref = QuoteString(image)
        inspect = ["docker", "image", "inspect", "-f"]
        label = QuoteString(f'{{{{index .Config.Labels "{PG_MAJOR_LABEL}"}}}}')
        env = QuoteString("{{range .Config.Env}}{{println .}}{{end}}")
        return StringCommand(
            "id=$(", *inspect, QuoteString("{{.Id}}"), ref, "2>/dev/null)", "||", "exit", "0;",
            "echo", '"id=$id";',
            "echo", "label=$(", *inspect, label, ref, ");",
            *inspect, env, ref, "|", "sed", "-n", QuoteString("s/^PG_MAJOR=/env=/p"), ";",
            # Neither label nor PG_MAJOR: ask the server binary itself.
            "echo", "version=$(", "docker", "run", "--rm", "--network", "none",
            "--entrypoint", "postgres", ref, "--version", "2>/dev/null", ")",
        )

    def process(self, output: list[str]) -> Image | None:
        fields = dict(line.split("=", 1) for line in output if "=" in line)
        if not fields.get("id"):
            return None
        return Image(fields["id"], _major(fields))


def _major(fields: dict[str, str]) -> int | None:
    for key in ("label", "env"):
        value = fields.get(key, "").strip()
        if value.isdigit():
            return int(value)
    match = re.search(r"\(PostgreSQL\) (\d+)", fields.get("version", ""))
    return int(match.group(1)) if match else None


class ImagePostgresUser(FactBase):
    """`uid:gid` of the postgres user inside `image`, or None when the image is not local.

    The files pgstead puts in the mounted config directory must belong to this numeric owner:
    the host may have no such user, or another user with the same number.
    """

    @staticmethod
    def default() -> None:
        return None

    def command(self, image: str) -> StringCommand:
        ref = QuoteString(image)
        return StringCommand(
            "docker", "image", "inspect", ref, ">/dev/null", "2>&1", "||", "exit", "0;",
            "docker", "run", "--rm", "--network", "none", "--entrypoint", "sh", ref, "-c",
            QuoteString('echo "$(id -u postgres):$(id -g postgres)"'),
        )

    def process(self, output: list[str]) -> str | None:
        owner = "".join(output).strip()
        return owner if re.fullmatch(r"\d+:\d+", owner) else None


class VolumeDataVersion(FactBase):
    """PG_VERSION of the data in a named volume: a major number, "" for a volume without a
    cluster yet, None when there is no such volume."""

    @staticmethod
    def default() -> None:
        return None

    def command(self, volume: str, image: str) -> StringCommand:
        vol = QuoteString(volume)
        # Read through the host path when the engine is local; a remote or rootless engine
        # keeps it elsewhere, so then ask a throwaway container that mounts the volume.
        in_container = ["docker", "run", "--rm", "--network", "none", "-v",
                        StringCommand(vol, ":/data:ro", _separator=""), "--entrypoint", "cat",
                        QuoteString(image), "/data/PG_VERSION", "2>/dev/null"]
        return StringCommand(
            "mp=$(", "docker", "volume", "inspect", "-f", QuoteString("{{.Mountpoint}}"), vol,
            "2>/dev/null)", "||", "exit", "0;",
            "echo", "volume;",
            "if", "[", "-d", '"$mp"', "];", "then", "cat", '"$mp/PG_VERSION"', "2>/dev/null;",
            "else", *in_container, ";", "fi;", "true",
        )

    def process(self, output: list[str]) -> str | None:
        if not output or output[0].strip() != "volume":
            return None
        return "".join(output[1:]).strip()


@dataclass(frozen=True)
class Container:
    image_id: str
    status: str  # running, exited, restarting, ...
    health: str  # healthy, starting, unhealthy, or "none" without a healthcheck
    spec_sha256: str  # the project digest it was created from (its label)


class ComposeContainer(FactBase):
    """The state of the container named `container`, or None when there is none."""

    @staticmethod
    def default() -> None:
        return None

    def command(self, container: str) -> StringCommand:
        template = ("{{.Image}} {{.State.Status}} "
                    "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} "
                    f'{{{{index .Config.Labels "{SPEC_LABEL}"}}}}')
        return StringCommand("docker", "container", "inspect", "-f", QuoteString(template),
                             QuoteString(container), "2>/dev/null", "||", "true")

    def process(self, output: list[str]) -> Container | None:
        fields = "".join(output).split()
        if len(fields) < 3:
            return None
        spec = fields[3] if len(fields) > 3 else ""
        return Container(fields[0], fields[1], fields[2], spec)

