"""Access: databases, login roles, their privileges, roles to drop, and pg_hba.conf."""

from pyinfra.api import deploy

from pgstead.config.model import Environment
from pgstead.desired import hardening
from pgstead.desired.ha import service_user_limits
from pgstead.desired.hba import pg_hba_for
from pgstead.facts.access import AccessRead
from pgstead.facts.ha import on_the_leader
from pgstead.operations import databases as database_ops
from pgstead.operations import grants as grant_ops
from pgstead.operations import ha as ha_ops
from pgstead.operations import hba as hba_ops
from pgstead.operations import roles as role_ops
from pgstead.server.psql import Server
from pgstead.server.select import server_for
from roles.ha import leads_after_apply, split_for


@deploy("PostgreSQL access")
def access(env: Environment) -> None:
    server = server_for(env)
    leads = True if server.patroni is None else leads_after_apply(env, server)
    if leads is False:
        ha_ops.replica_skips(name=f"Access on {server}", node=server.patroni,
                             what="roles, databases, grants")
    else:
        _written_here(env, server, leads)
    if leads is not True:
        # Called last, so it runs after the leader's writes above: the roles after this one
        # read them on this member (the pooler's auth file holds the verifiers stored here).
        ha_ops.leader_writes_replayed(name=f"The leader's writes replayed on {server}",
                                      node=server.patroni)


def _written_here(env: Environment, server: Server, leads: bool | None) -> None:
    # The minor-upgrade role, before this one, switches over within the same apply.
    here = on_the_leader(server, known=leads is True and env.postgres.upgrade != "minor")
    present = [u for u in env.users if u.state == "present"]
    absent = [u.name for u in env.users if u.state == "absent"]
    # One read of roles, databases and pg_hba.conf for the three steps that need them.
    access_read = AccessRead(server, present)
    if present:
        role_ops.users(name=f"Login roles on {server}", server=server, users=present,
                       access=access_read, **here)
    if env.databases:
        database_ops.databases(name=f"Databases on {server}", server=server,
                               databases=list(env.databases), access=access_read, **here)
    lock_public = hardening.is_active(env, "public_schema_usage")
    for database in env.databases:
        grant_ops.database_access(name=f"Access to database {database.name}", server=server,
                                  database=database, users=list(env.users),
                                  lock_public=lock_public, **here)
    if lock_public:
        grant_ops.template_public(name=f"Schema public in template1 of {server}",
                                  server=server, **here)
    if hardening.is_active(env, "superuser_connection_limit"):
        role_ops.connection_limit(name=f"Connection limit of {hardening.SUPERUSER} on {server}",
                                  server=server, role=hardening.SUPERUSER,
                                  limit=hardening.superuser_connection_limit(env), **here)
    if server.patroni is not None:
        cluster, _ = split_for(env, server)
        for role, limit in service_user_limits(cluster).items():
            role_ops.connection_limit(name=f"Connection limit of {role} on {server}",
                                      server=server, role=role, limit=limit, **here)
    if absent:
        role_ops.absent(name=f"Dropped roles on {server}", server=server, names=absent,
                        database_owners={db.name: db.owner for db in env.databases}, **here)
    if server.hba_by != "pgstead":
        return  # Patroni writes pg_hba.conf from the list pgstead renders into its config
    hba_ops.pg_hba(name=f"pg_hba.conf of {server}", server=server, content=pg_hba_for(env),
                   access=access_read)
