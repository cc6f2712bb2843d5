"""PostgreSQL as a Docker Compose service: engine, wrapper, image, project files, container."""

from pyinfra.api import deploy
from pyinfra.operations import files

from pgstead import PROJECT_ROOT
from pgstead.config.model import Environment
from pgstead.config.secrets import resolve_password
from pgstead.desired.hba import pg_hba_for
from pgstead.operations import compose as compose_ops
from pgstead.render.compose import layout_for, render_compose
from pgstead.server.select import COMPOSE_WRAPPER, server_for

WRAPPER_PATH = f"/usr/local/sbin/{COMPOSE_WRAPPER}"
WRAPPER_SOURCE = PROJECT_ROOT / "pgstead" / "data" / "host" / COMPOSE_WRAPPER
# The container's superuser password: generated once on the controller, kept in the
# environment's state directory like every generated password.
SUPERUSER_PASSWORD = {"generate": True}


@deploy("PostgreSQL in Docker Compose")
def compose(env: Environment) -> None:
    if env.postgres.install != "compose" or env.compose is None:
        return
    image = env.compose.image
    layout = layout_for(env)
    project = render_compose(env)
    server = server_for(env)

    compose_ops.engine(name="Docker engine and Compose")
    files.put(name=f"Install {WRAPPER_PATH}", src=str(WRAPPER_SOURCE), dest=WRAPPER_PATH,
              user="root", group="root", mode="755")
    compose_ops.image(name=f"Image {image}", image=image)
    compose_ops.data_version(name=f"PostgreSQL {env.postgres.version} data in {layout.volume}",
                             image=image, volume=layout.volume, version=env.postgres.version)
    password = resolve_password(SUPERUSER_PASSWORD, user="postgres",
                                base_dir=env.source.parent, state_dir=env.state_dir)
    compose_ops.project_files(name=f"Compose project in {layout.project_dir}", server=server,
                              layout=layout, project=project, password=password,
                              pg_hba=pg_hba_for(env))
    compose_ops.service(name=f"Service {layout.container} ({image})", layout=layout,
                        image=image, spec_sha256=project.spec_sha256)
