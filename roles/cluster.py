"""Create the environment's native cluster; a new one is left stopped.

The settings role starts it once its parameters are written (see settings.parameters), so a
new cluster's first start already runs with them: no restart on a first apply.
"""

from pyinfra.api import deploy

from pgstead.config.model import Environment
from pgstead.operations import cluster as cluster_ops
from pgstead.server.select import server_for


@deploy("PostgreSQL cluster")
def cluster(env: Environment) -> None:
    pg = env.postgres
    # Compose runs its own; Patroni creates (bootstrap) or clones the cluster itself.
    if server_for(env).managed_by != "pg_ctlcluster":
        return
    cluster_ops.cluster(
        name=f"Cluster {pg.version}/{pg.cluster} on port {pg.port}",
        version=pg.version, cluster=pg.cluster, port=pg.port, locale=pg.locale,
        data_checksums=pg.data_checksums, running=False, wal_directory=pg.wal_directory,
    )
