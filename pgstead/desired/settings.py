"""The full set of server parameters an environment asks for on one host.

Layers, later ones winning: computed tuning, pgstead's secure baseline, the hardening
controls (pgstead.desired.hardening), TLS, WAL archiving for pgBackRest, then the file's explicit
`settings`. Preload libraries the hardening controls need are kept even when the file sets
shared_preload_libraries itself.
"""

from __future__ import annotations

from pgstead.config.model import Environment
from pgstead.desired import hardening, tuning
from pgstead.desired.archive import archive_settings
from pgstead.live.host import HostResources
from pgstead.postgres import units

# Files installed by the TLS role, relative to the cluster's config directory.
TLS_FILES = {"cert": "server.crt", "key": "server.key", "ca": "root.crt"}


def baseline(env: Environment) -> dict[str, str]:
    return {
        # In a container the published port (compose.bind) decides who reaches the server;
        # inside, it must listen beyond loopback for that port to work.
        "listen_addresses": ("*" if env.postgres.install == "compose"
                             else ",".join(env.postgres.listen_addresses)),
        "password_encryption": "scram-sha-256",
    }


def tls_settings(env: Environment, config_dir: str) -> dict[str, str]:
    if not env.tls.enabled:
        return {"ssl": "off"}
    return {
        "ssl": "on",
        "ssl_cert_file": f"{config_dir}/{TLS_FILES['cert']}",
        "ssl_key_file": f"{config_dir}/{TLS_FILES['key']}",
        "ssl_ca_file": f"{config_dir}/{TLS_FILES['ca']}",
        # Hardening may ask for more than the file's tls.min_protocol (strict: TLSv1.3).
        "ssl_min_protocol_version": hardening.stricter_protocol(
            env.tls.min_protocol, hardening.minimum_tls_protocol(env)),
    }


def tuned(env: Environment, resources: HostResources) -> dict[str, str]:
    t = env.postgres.tuning
    max_connections = int(units.to_postgres_text(
        env.postgres.settings.get("max_connections", "100")))
    return tuning.recommend(tuning.TuningInput(
        profile=t.profile,
        memory_bytes=t.memory_bytes or resources.memory_bytes,
        cpus=t.cpus or resources.cpus,
        storage=t.storage,
        max_connections=max_connections,
        major=env.postgres.version,
    ))


def desired_settings(env: Environment, resources: HostResources,
                     config_dir: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for layer in (tuned(env, resources), baseline(env), hardening.hardening_settings(env),
                  tls_settings(env, config_dir), archive_settings(env), env.postgres.settings):
        merged.update(layer)
    libraries = hardening.preload_libraries(env)
    if env.monitoring.statements:
        libraries.append("pg_stat_statements")
        # Utility statements are kept verbatim: an ALTER ROLE ... PASSWORD would keep its
        # verifier in pg_stat_statements, readable by every pg_read_all_stats member.
        merged.setdefault("pg_stat_statements.track_utility", "off")
    if libraries:
        merged["shared_preload_libraries"] = hardening.merge_libraries(
            merged.get("shared_preload_libraries"), libraries)
    return merged
