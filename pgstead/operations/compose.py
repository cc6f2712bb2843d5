"""PostgreSQL as a Docker Compose service: the engine, the image, the project, the container.

The data lives in a named volume that pgstead never removes (`down` is never run with -v).
A new major version is never started on an existing data directory.
"""

from __future__ import annotations

import hashlib

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation
from pyinfra.api.exceptions import OperationError

from pgstead.config.secret import Secret
from pgstead.facts.compose import (
    ComposeContainer,
    DockerEngine,
    PostgresImage,
    VolumeDataVersion,
)
from pgstead.facts.paths import PathStates
from pgstead.operations import packages
from pgstead.operations.owner import file_owner
from pgstead.operations.plan_notes import plan_note, planning
from pgstead.render.compose import ComposeLayout, ComposeProject
from pgstead.server.psql import Server
from pgstead.server.select import COMPOSE_WRAPPER

DAEMON_WAIT_SECONDS = 60
HEALTHY_WAIT_SECONDS = 300
DOCKERD_LOG = "/var/log/dockerd.log"


@operation()
def engine():
    """
    Ensure a Docker engine and Compose are installed and the daemon answers.

    Installs ``docker.io`` when docker is missing, and ``docker-compose`` (v1) only when
    ``docker compose`` (v2) does not work either. Starts the daemon when it does not answer:
    through systemd when the host runs it, else ``dockerd`` detached in the background.

    **Example:**

    .. code:: python

        compose.engine(name="Docker engine")
    """
    live = host.get_fact(DockerEngine)
    missing = [] if live.docker else ["docker.io"]
    if not (live.compose_v2 or live.compose_v1):
        missing.append("docker-compose")
    if missing:
        yield from packages.installed._inner(packages=missing)
    if live.daemon:
        if not missing:
            host.noop("Docker engine and Compose present, daemon running")
        return
    if live.systemd:
        yield StringCommand("systemctl", "enable", "--now", "docker")
    else:
        # No init system to ask: detach dockerd from this session so it outlives the run.
        yield StringCommand("setsid", "nohup", "dockerd", ">>", DOCKERD_LOG, "2>&1",
                            "</dev/null", "&")
    yield StringCommand(
        "i=0;", "until", "docker", "info", ">/dev/null", "2>&1;", "do",
        "[", "$i", "-ge", str(DAEMON_WAIT_SECONDS), "]", "&&", "{", "echo",
        QuoteString(f"pgstead: the Docker daemon did not answer within {DAEMON_WAIT_SECONDS} s"
                    f" (see {DOCKERD_LOG})"), ">&2;", "exit", "1;", "};",
        "i=$((i+1));", "sleep", "1;", "done",
    )


@operation()
def image(image: str):
    """
    Ensure the image is on the host, pulling it when it is not.

    + image: image reference, e.g. ``postgres:15``

    **Example:**

    .. code:: python

        compose.image(name="postgres:15 image", image="postgres:15")
    """
    if host.get_fact(PostgresImage, image=image) is not None:
        host.noop(f"image {image} present")
        return
    yield StringCommand("docker", "pull", QuoteString(image))


@operation()
def data_version(image: str, volume: str, version: int):
    """
    Refuse to run an image whose PostgreSQL major differs from the file's or the data's.

    + image: the image the project will run
    + volume: the named volume holding the data directory
    + version: ``postgres.version`` from the environment file

    PostgreSQL cannot open a data directory of another major version; a major upgrade needs
    a dump and restore or pg_upgrade, which pgstead does not do implicitly. Yields nothing:
    it either passes or stops the host before any file of the project changes.

    **Example:**

    .. code:: python

        compose.data_version(name="Data version", image="postgres:15",
                             volume="pgstead-prod-data", version=15)
    """
    live = host.get_fact(PostgresImage, image=image)
    if live is None:
        if planning():
            plan_note(f"image {image}", "not here yet: its version is checked once it is pulled")
            host.noop(f"image {image} not pulled yet")
            return
        raise OperationError(f"image {image} is not on the host")
    if live.major is None:
        raise OperationError(
            f"cannot tell which PostgreSQL major image {image} runs (no org.pgstead.pg-major "
            "label, no PG_MAJOR, no postgres --version)")
    if live.major != version:
        raise OperationError(
            f"compose.image {image} runs PostgreSQL {live.major} but postgres.version is "
            f"{version}: make them agree")
    data = host.get_fact(VolumeDataVersion, volume=volume, image=image)
    if data and data.isdigit() and int(data) != live.major:
        raise OperationError(
            f"refusing to start PostgreSQL {live.major} ({image}) on the PostgreSQL {data} data "
            f"in volume {volume}: a major upgrade needs pg_dump/pg_restore or pg_upgrade. "
            f"Set compose.image back to a {data} image, or upgrade the data first.")
    host.noop(f"volume {volume} holds {'PostgreSQL ' + data if data else 'no data yet'}, "
              f"image {image} runs {live.major}")
    yield from ()  # a check only: an operation must still be a generator


def _sha256(text: str) -> str:
    # pyinfra ends stdin with a newline when the text lacks one; the digest must match that.
    return hashlib.sha256((text if text.endswith("\n") else text + "\n").encode()).hexdigest()


def _numeric_owner(server: Server) -> str:
    owner = file_owner(server)
    if not all(part.isdigit() for part in owner.split(":")):
        # A plan made before the image is here: the real owner is read when this runs.
        return "0:0"
    return owner


def _install_file(path: str, content: str, owner: str, mode: str) -> StringCommand:
    """Replace `path` atomically with `content` (from stdin), owner and mode set before the
    rename, so nobody ever reads a half-written or wrongly owned file."""
    target = QuoteString(path)
    return StringCommand(
        "tmp=$(mktemp", StringCommand(target, ".XXXXXX", _separator=""), ")", "&&",
        "{", "cat", '>"$tmp"', "&&", "chown", QuoteString(owner), '"$tmp"', "&&",
        "chmod", mode, '"$tmp"', "&&", "mv", "-f", '"$tmp"', target, ";", "}",
        "||", "{", "rm", "-f", '"$tmp"', ";", "exit", "1;", "}",
        _stdin=content,
    )


def _directory(path: str, owner: str, mode: str) -> StringCommand:
    target = QuoteString(path)
    return StringCommand("mkdir", "-p", target, "&&", "chown", QuoteString(owner), target,
                         "&&", "chmod", mode, target)


@operation()
def project_files(server: Server, layout: ComposeLayout, project: ComposeProject,
                  password: Secret, pg_hba: str):
    """
    Ensure the compose project's directory and files are in place, compared by content.

    + server: the compose `Server` (``file_owner(server)`` owns the mounted config directory)
    + layout: where the project lives (``pgstead.render.compose.layout_for``)
    + project: compose.yaml and .env (``pgstead.render.compose.render_compose``)
    + password: the superuser password; sent on stdin into a root-only 0600 file that the
      container reads through POSTGRES_PASSWORD_FILE, never shown
    + pg_hba: the pg_hba.conf to start with, written only when there is none (the access
      role keeps it up to date afterwards)

    Always give this operation a ``name=``: pyinfra prints the arguments of unnamed ones.

    **Example:**

    .. code:: python

        compose.project_files(name="Compose project", server=server, layout=layout,
                              project=render_compose(env), password=secret, pg_hba=text)
    """
    owner = _numeric_owner(server)
    hba_path = server.host_path(f"{server.config_dir}/pg_hba.conf")
    # (path, wanted kind, owner, mode, content or None to leave an existing file alone)
    wanted: list[tuple[str, str, str, str, str | None]] = [
        (layout.project_dir, "dir", "0:0", "755", None),
        (layout.secrets_dir, "dir", "0:0", "700", None),
        (layout.conf_dir, "dir", owner, "750", None),
        (layout.password_file, "file", "0:0", "600", password.reveal()),
        (hba_path, "hba", owner, "640", pg_hba),
        (layout.env_file, "file", "0:0", "644", project.dot_env),
        (layout.compose_file, "file", "0:0", "644", project.compose_yaml),
    ]
    live = host.get_fact(PathStates, paths=tuple(w[0] for w in wanted))
    changed = False
    for (path, kind, own, mode, content), state in zip(wanted, live, strict=True):
        if kind == "dir":
            if (state.kind, state.owner, state.mode) != ("dir", own, mode):
                changed = True
                yield _directory(path, own, mode)
            continue
        assert content is not None
        if state.kind != "file" or (kind == "file" and state.sha256 != _sha256(content)):
            changed = True
            yield _install_file(path, content, own, mode)
        elif (state.owner, state.mode) != (own, mode):
            changed = True
            yield StringCommand("chown", QuoteString(own), QuoteString(path), "&&",
                                "chmod", mode, QuoteString(path))
    if not changed:
        host.noop(f"compose project in {layout.project_dir} up to date")


@operation()
def service(layout: ComposeLayout, image: str, spec_sha256: str):
    """
    Ensure the project's postgres container runs the current image and project, and is
    healthy.

    + layout: where the project lives
    + image: the image reference in compose.yaml (a moved tag, e.g. a new minor release,
      re-creates the container; the data volume stays)
    + spec_sha256: the project digest the container must carry as its label

    ``up -d`` creates or re-creates only what differs; pgstead never runs ``down -v``.

    **Example:**

    .. code:: python

        compose.service(name="postgres service", layout=layout, image="postgres:15",
                        spec_sha256=render_compose(env).spec_sha256)
    """
    container = host.get_fact(ComposeContainer, container=layout.container)
    live_image = host.get_fact(PostgresImage, image=image)
    if container is None:
        why = "no container yet"
    elif container.spec_sha256 != spec_sha256:
        why = "the project changed"
    elif live_image is not None and container.image_id != live_image.id:
        why = f"{image} now names another image"
    elif container.status != "running":
        why = f"the container is {container.status}"
    elif container.health != "healthy":
        why = f"the container is {container.health}"
    else:
        host.noop(f"{layout.container} running and healthy")
        return
    plan_note(layout.container, f"up -d ({why})")
    compose = [COMPOSE_WRAPPER, "-f", QuoteString(layout.compose_file)]
    yield StringCommand(*compose, "up", "-d", "--remove-orphans", ">&2")
    name = QuoteString(layout.container)
    status = QuoteString("{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}")
    yield StringCommand(
        "i=0;", "while", "[", "$i", "-lt", str(HEALTHY_WAIT_SECONDS), "];", "do",
        "s=$(docker", "inspect", "-f", status, name, "2>/dev/null);",
        "[", '"$s"', "=", "healthy", "]", "&&", "exit", "0;",
        "i=$((i+2));", "sleep", "2;", "done;",
        "docker", "logs", "--tail", "30", name, ">&2;",
        "echo", QuoteString(f"pgstead: {layout.container} not healthy within "
                            f"{HEALTHY_WAIT_SECONDS} s"), ">&2;", "exit", "1",
    )
