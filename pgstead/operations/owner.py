"""Who must own a server's configuration files on the host, read when an operation runs."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api.exceptions import OperationError
from pyinfra.api.state import StateStage

from pgstead.facts.compose import ImagePostgresUser
from pgstead.server.psql import Server


def file_owner(server: Server) -> str:
    """`user:group` that must own the server's files, as chown takes it.

    In compose mode it is the numeric owner of postgres inside the image, read when the
    operation runs (so after the compose role has pulled the image on a fresh host): the
    seam itself reads no fact.
    """
    if server.native:
        return "postgres:postgres"
    owner = host.get_fact(ImagePostgresUser, image=server.image)
    if owner:
        return owner
    if host.state.current_stage == StateStage.Execute:
        raise OperationError(f"cannot read the postgres user of image {server.image}")
    return "postgres:postgres"  # a plan before the image is pulled
