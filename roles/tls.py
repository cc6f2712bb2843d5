"""TLS by default: the controller's CA signs each host's certificate, the host gets the files."""

from pyinfra import host, inventory, logger
from pyinfra.api import deploy

from pgstead.config.members import ABSENT, member_state
from pgstead.config.model import Environment
from pgstead.desired import hardening
from pgstead.desired.endpoints import endpoint_sans
from pgstead.operations import tls as tls_ops
from pgstead.operations.files import Directory, File, managed_files
from pgstead.pki import (
    PkiError,
    ensure_ca,
    ensure_client_cert,
    ensure_server_cert,
    needs_renewal,
    server_sans,
)
from pgstead.pki.encrypted_key import ensure_encrypted_key
from pgstead.pki.locations import pki_dir
from pgstead.pki.pem import load_certificate, load_private_key, same_public_key
from pgstead.pki.sans import LOCALHOST_SANS
from pgstead.server.select import member_address, server_for

LOCAL_HOST = "@local"


def _host_sans(env: Environment) -> list[str]:
    if host.name == LOCAL_HOST:
        # The controller itself: clients reach it as localhost, or by a name the file lists.
        return server_sans(LOCAL_HOST, None, [], [*LOCALHOST_SANS, *env.tls.server_names])
    address = host.data.get("ssh_hostname") or host.name
    # With ha, the endpoints' addresses too: HAProxy passes TLS through to any member.
    members = [(h.name, member_address(h.data, h.name)) for h in inventory
               if member_state(h.data) != ABSENT]
    return server_sans(host.name, address, env.postgres.listen_addresses,
                       [*env.tls.server_names, *endpoint_sans(env, members)])


def _ready_certificate(env: Environment, ca_cert: bytes, sans: list[str]) -> tuple[bytes, bytes]:
    """A certificate the user brought for this host: used as is, with a warning if it falls
    short, since pgstead cannot re-issue what another CA signed."""
    pair = env.tls.host_certs[host.name]
    what = f"tls.host_certs[{host.name}]"
    try:
        cert_pem, key_pem = pair.cert.read_bytes(), pair.key.read_bytes()
    except OSError as error:
        raise PkiError(f"{what}: cannot read {error.filename}: {error.strerror}") from None
    cert = load_certificate(cert_pem, f"{what}.cert ({pair.cert})")
    if not same_public_key(cert, load_private_key(key_pem, f"{what}.key ({pair.key})")):
        raise PkiError(f"{what}: {pair.key} is not the private key of {pair.cert}")
    problem = needs_renewal(cert_pem, ca_cert_pem=ca_cert, sans=sans,
                            renew_before_days=env.tls.renew_before_days)
    if problem is not None:
        logger.warning(f"{host.name}: {what} ({pair.cert}) is installed as given, but: {problem}")
    return cert_pem, key_pem


def host_certificate(env: Environment) -> tuple[bytes, bytes, bytes, bytes]:
    """(CA certificate, CA key, this host's certificate, its key), issued or renewed on the
    controller when due; the same answer for every role that asks in one run."""
    t = env.tls
    pki = pki_dir(env)
    ca_cert, ca_key = ensure_ca(pki, env.name, byo=(t.ca.cert, t.ca.key) if t.ca else None)
    sans = _host_sans(env)
    if host.name in t.host_certs:
        cert_pem, key_pem = _ready_certificate(env, ca_cert, sans)
    else:
        cert_pem, key_pem, reason = ensure_server_cert(
            pki, host.name, ca_cert, ca_key, sans=sans, days=t.days,
            renew_before_days=t.renew_before_days,
        )
        if reason is not None:
            logger.info(f"{host.name}: issued a server certificate ({reason})")
    return ca_cert, ca_key, cert_pem, key_pem


@deploy("TLS certificates")
def tls(env: Environment) -> None:
    t = env.tls
    if not t.enabled:
        return
    pki = pki_dir(env)
    ca_cert, ca_key, cert_pem, key_pem = host_certificate(env)
    for user in env.users:
        if user.auth == "cert" and user.state == "present":
            ensure_client_cert(pki, user.name, ca_cert, ca_key, days=t.days,
                               renew_before_days=t.renew_before_days)

    server = server_for(env)
    if hardening.key_encrypted(env):
        # Encrypted at rest: the passphrase goes into a file root owns and the server's group
        # may only read, before the key that needs it (ssl_passphrase_command reads it).
        key_pem, passphrase = ensure_encrypted_key(pki, host.name, key_pem)
        managed_files(name=f"Passphrase of the server key of {server}", entries=[
            Directory(hardening.PASSPHRASE_DIR.rsplit("/", 1)[0]),
            Directory(hardening.PASSPHRASE_DIR, "root", "postgres", "750"),
            File(hardening.passphrase_file(env), passphrase + "\n", "root", "postgres", "440"),
        ])
    tls_ops.certificates(
        name=f"TLS certificate, key and CA of {server}",
        server=server, cert_pem=cert_pem, key_pem=key_pem, ca_pem=ca_cert,
    )
