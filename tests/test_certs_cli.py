"""`pgstead certs`: what the controller holds and what the host has installed, and --renew."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pgstead.pki import cert_info, client_cert_paths, ensure_ca, server_cert_paths
from tests.pgstead_run import ROOT
from tests.test_tls_deploy import (
    CERT_USER,
    config_dir,
    deploy,
    enable_tls,
    on_own_port,
    pki,
)


@pytest.fixture
def tls_env(env_file):
    return on_own_port(env_file)


def certs(env_file, *args: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PGSTEAD_STATE_DIR": str(env_file.state_dir)}
    proc = subprocess.run([sys.executable, "-m", "pgstead.cli", "certs", str(env_file.path), *args],
                          cwd=ROOT, capture_output=True, text=True, env=environ, timeout=60)
    assert "PRIVATE KEY" not in proc.stdout + proc.stderr
    return proc


def test_lists_ca_host_and_client_certificates_with_days_left(tls_env):
    enable_tls(tls_env)
    deploy(tls_env)
    proc = certs(tls_env)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    ca = cert_info((pki(tls_env) / "ca.crt").read_bytes())
    host = cert_info(server_cert_paths(pki(tls_env), "@local")[0].read_bytes())
    client = cert_info(client_cert_paths(pki(tls_env), CERT_USER)[0].read_bytes())
    assert f"CA {tls_env.name}:" in out
    assert f"host @local: {server_cert_paths(pki(tls_env), '@local')[0]}" in out
    assert f"client {CERT_USER}:" in out
    for info in (ca, host, client):
        assert info.fingerprint_sha256 in out
        assert f"days left:   {info.days_left()} (until {info.not_after:%Y-%m-%d})" in out
    assert "SANs:        localhost, 127.0.0.1, ::1" in out
    assert f"subject:     CN={CERT_USER}" in out
    assert f"installed:   same certificate, at {config_dir(tls_env) / 'server.crt'}" in out
    assert out.count("status:      ok") == 3


def test_host_option_shows_only_that_host(tls_env):
    enable_tls(tls_env)
    deploy(tls_env)
    out = certs(tls_env, "--host", "@local").stdout
    assert "host @local:" in out and "CA " in out
    assert f"client {CERT_USER}" not in out
    assert "no server certificate for host 'db9'" in certs(tls_env, "--host", "db9").stdout


def test_renew_reissues_on_the_controller_and_the_next_apply_installs(tls_env):
    enable_tls(tls_env)
    deploy(tls_env)
    crt, _ = server_cert_paths(pki(tls_env), "@local")
    client_crt, _ = client_cert_paths(pki(tls_env), CERT_USER)
    before, client_before = crt.read_bytes(), client_crt.read_bytes()

    proc = certs(tls_env, "--renew")
    assert proc.returncode == 0, proc.stderr
    assert f"re-issued: host @local, client {CERT_USER}" in proc.stdout
    after = crt.read_bytes()
    assert after != before and client_crt.read_bytes() != client_before
    assert cert_info(after).sans == cert_info(before).sans
    assert "installed:   a different certificate" in proc.stdout

    applied = deploy(tls_env)
    assert any("TLS" in name for name in applied.changed)
    assert (config_dir(tls_env) / "server.crt").read_bytes() == after
    assert "installed:   same certificate" in certs(tls_env).stdout


def test_before_any_apply_says_there_is_nothing_yet(tls_env):
    enable_tls(tls_env)
    proc = certs(tls_env)
    assert proc.returncode == 0, proc.stderr
    assert "no certificates yet" in proc.stdout


def test_inventory_option_reads_what_each_host_has_installed(tls_env, tmp_path):
    enable_tls(tls_env)
    deploy(tls_env)
    installed = config_dir(tls_env) / "server.crt"
    out = certs(tls_env, "--inventory", "@local").stdout
    assert f"installed:   same certificate, at {installed}" in out

    inventory = tmp_path / "hosts.py"
    inventory.write_text('hosts = ["unreachable.invalid"]\n')
    out = certs(tls_env, "--inventory", str(inventory)).stdout
    assert "host unreachable.invalid: no certificate on the controller" in out
    assert f"installed:   host unreachable at {installed}" in out


def test_a_ca_close_to_expiry_is_flagged(tls_env, tmp_path):
    ensure_ca(tmp_path / "ca", "short-lived", days=20)
    enable_tls(tls_env, ca={"cert": str(tmp_path / "ca" / "ca.crt"),
                             "key": str(tmp_path / "ca" / "ca.key")})
    out = certs(tls_env).stdout
    assert "status:      expires in 19 days: replace the CA soon" in out
