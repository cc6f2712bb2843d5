"""`pgstead certs FILE.yml`: the environment's certificates, how long they last, and renewal.

Lists the CA, each host's server certificate and each client certificate kept on the
controller, and for `@local` the certificate the cluster really has installed. Reads
certificates only: no private key is ever printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import click
from pyinfra.api import Host, State
from pyinfra.facts.files import FileContents

from pgstead.cli.inventory_state import connected_inventory
from pgstead.config.load import load_environment
from pgstead.config.model import Environment
from pgstead.desired.settings import TLS_FILES
from pgstead.pki import (
    CertInfo,
    PkiError,
    cert_info,
    ensure_ca,
    ensure_client_cert,
    ensure_server_cert,
    needs_renewal,
)
from pgstead.pki.locations import ca_cert_path, pki_dir
from pgstead.pki.store import CLIENTS_DIR, HOSTS_DIR
from pgstead.server.select import server_for

LOCAL_HOST = "@local"


@dataclass(frozen=True)
class ListedCert:
    kind: str  # CA | host | client
    name: str
    path: Path
    info: CertInfo
    status: str  # "ok", or why the next apply re-issues it


def _kept(directory: Path) -> list[tuple[str, Path]]:
    """(name, crt path) of the certificates kept in `directory`, names unescaped."""
    if not directory.is_dir():
        return []
    return [(unquote(p.stem), p) for p in sorted(directory.glob("*.crt"))]


def _status(cert_pem: bytes, ca_pem: bytes | None, renew_before_days: int,
            info: CertInfo) -> str:
    if ca_pem is None:
        return "no CA yet"
    # The certificate's own SANs: this checks expiry and issuer; SANs are checked at apply time.
    return needs_renewal(cert_pem, ca_cert_pem=ca_pem, sans=info.sans,
                         renew_before_days=renew_before_days) or "ok"


def _ca_status(info: CertInfo, renew_before_days: int) -> str:
    # pgstead never replaces a CA by itself: every certificate it signed would change with it.
    left = info.days_left()
    if left < 0:
        return f"expired on {info.not_after:%Y-%m-%d}: replace the CA"
    if left < renew_before_days:
        return f"expires in {left} days: replace the CA soon"
    return "ok"


def controller_certificates(env: Environment, only_host: str | None = None) -> list[ListedCert]:
    """The CA, then host certificates, then client certificates, as the controller keeps them."""
    pki = pki_dir(env)
    listed: list[ListedCert] = []
    ca_path = ca_cert_path(env)
    ca_pem = ca_path.read_bytes() if ca_path.is_file() else None
    if ca_pem is not None:
        info = cert_info(ca_pem)
        listed.append(ListedCert("CA", env.name, ca_path, info,
                                 _ca_status(info, env.tls.renew_before_days)))
    hosts = [(name, path) for name, path in _kept(pki / HOSTS_DIR)
             if name not in env.tls.host_certs]
    hosts += [(name, pair.cert) for name, pair in env.tls.host_certs.items()]
    clients = [] if only_host else _kept(pki / CLIENTS_DIR)
    for kind, entries in (("host", hosts), ("client", clients)):
        for name, path in entries:
            if only_host and name != only_host:
                continue
            pem = path.read_bytes()
            info = cert_info(pem)
            listed.append(ListedCert(kind, name, path, info,
                                     _status(pem, ca_pem, env.tls.renew_before_days, info)))
    return listed


def renew(env: Environment, only_host: str | None = None) -> list[str]:
    """Re-issue kept host certificates (with their current SANs) and client certificates.

    The next apply installs them. Ready certificates from `tls.host_certs` are not ours to
    re-issue and are left alone.
    """
    t = env.tls
    pki = pki_dir(env)
    ca_cert, ca_key = ensure_ca(pki, env.name, byo=(t.ca.cert, t.ca.key) if t.ca else None)
    renewed: list[str] = []
    for name, path in _kept(pki / HOSTS_DIR):
        if (only_host and name != only_host) or name in t.host_certs:
            continue
        sans = cert_info(path.read_bytes()).sans
        ensure_server_cert(pki, name, ca_cert, ca_key, sans=sans, days=t.days,
                           renew_before_days=t.renew_before_days, force=True)
        renewed.append(f"host {name}")
    if only_host is None:
        for name, _ in _kept(pki / CLIENTS_DIR):
            ensure_client_cert(pki, name, ca_cert, ca_key, days=t.days,
                               renew_before_days=t.renew_before_days, force=True)
            renewed.append(f"client {name}")
    return renewed


def installed_cert_path(env: Environment) -> str:
    # On the host: a container's config directory is a mount of a host directory.
    server = server_for(env)
    return server.host_path(f"{server.config_dir}/{TLS_FILES['cert']}")


def installed_on_local(env: Environment) -> CertInfo | str:
    """The server certificate the local cluster has installed, read from its config dir."""
    try:
        return cert_info(Path(installed_cert_path(env)).read_bytes())
    except FileNotFoundError:
        return "none"
    except PkiError:
        return "unreadable"


def installed_on_inventory(env: Environment, inventory: str) -> dict[str, CertInfo | str]:
    """Each inventory host's installed server certificate, read through pyinfra's connectors
    (the same SSH settings as a deploy); a string says why there is none."""
    with connected_inventory(inventory) as state:
        return {host.name: _installed_on(host, state, installed_cert_path(env))
                for host in state.inventory}


def _installed_on(host: Host, state: State, path: str) -> CertInfo | str:
    if host not in state.activated_hosts:
        return "host unreachable"
    lines = host.get_fact(FileContents, path=path)
    if lines is None:
        return "none"
    try:
        return cert_info("\n".join(lines).encode())
    except PkiError:
        return "unreadable"


def _describe(cert: ListedCert) -> list[str]:
    info = cert.info
    lines = [f"{cert.kind} {cert.name}: {cert.path}",
             f"  subject:     {info.subject}"]
    if cert.kind != "CA":
        lines.append(f"  issuer:      {info.issuer}")
    if info.sans:
        lines.append(f"  SANs:        {', '.join(info.sans)}")
    lines += [f"  days left:   {info.days_left()} (until {info.not_after:%Y-%m-%d})",
              f"  fingerprint: {info.fingerprint_sha256}",
              f"  status:      {cert.status}"]
    return lines


def _describe_installed(path: str, installed: CertInfo | str, kept: ListedCert | None) -> str:
    if isinstance(installed, str):
        return f"  installed:   {installed} at {path}"
    if kept is not None and installed.fingerprint_sha256 == kept.info.fingerprint_sha256:
        return f"  installed:   same certificate, at {path}"
    return (f"  installed:   a different certificate at {path} (fingerprint "
            f"{installed.fingerprint_sha256}, {installed.days_left()} days left); "
            f"the next apply installs the controller's")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--renew", "renew_now", is_flag=True,
              help="Re-issue host and client certificates now; the next apply installs them.")
@click.option("--host", "only_host", metavar="NAME",
              help="Only this inventory host's certificate (and the CA).")
@click.option("--inventory", metavar="INVENTORY",
              help="Also read the certificate installed on each host of this pyinfra inventory.")
def certs(file: str, renew_now: bool, only_host: str | None, inventory: str | None) -> None:
    """List the CA, server and client certificates of FILE's environment.

    Shows subject, SANs, days left, SHA-256 fingerprint and whether the next apply re-issues
    each one. The certificate a host has installed is shown for @local (read directly) and,
    with --inventory, for every host of that inventory (read over its connector).
    """
    env = load_environment(file, resolve_secrets=False)
    if not env.tls.enabled:
        click.echo(f"{file}: tls.enabled is false; no certificates are managed")
        return
    if renew_now:
        renewed = renew(env, only_host)
        click.echo("re-issued: " + (", ".join(renewed) if renewed else "nothing (no host "
                   "certificate on the controller yet: apply first)"))
    listed = controller_certificates(env, only_host)
    if inventory:
        installed = installed_on_inventory(env, inventory)
    else:
        # Without an inventory only this machine is looked at, and only a file that is there.
        local = installed_on_local(env)
        installed = {} if isinstance(local, str) else {LOCAL_HOST: local}
    if only_host:
        installed = {name: found for name, found in installed.items() if name == only_host}
    if not listed and not installed:
        click.echo(f"no certificates yet under {pki_dir(env)}: an apply creates them")
        return
    if only_host and not any(c.kind == "host" for c in listed):
        click.echo(f"no server certificate for host {only_host!r} on the controller yet")
    path = installed_cert_path(env)
    for cert in listed:
        click.echo("\n".join(_describe(cert)))
        looked_at = cert.name in installed or (not inventory and cert.name == LOCAL_HOST)
        if cert.kind == "host" and looked_at:
            found = installed.pop(cert.name, "none")
            click.echo(_describe_installed(path, found, cert))
    for name, found in installed.items():
        click.echo(f"host {name}: no certificate on the controller")
        click.echo(_describe_installed(path, found, None))
