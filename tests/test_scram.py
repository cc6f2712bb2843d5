"""SCRAM-SHA-256 verifiers made on the controller: the RFC's numbers, then a real PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import subprocess

import psycopg
import pytest
from psycopg import sql

from pgstead.postgres import scram
from tests.pgstead_run import apply

# RFC 7677, section 3: user "user", password "pencil".
RFC_SALT = "W22ZaJ0SNY7soEsUEjb6gQ=="
RFC_AUTH_MESSAGE = (
    b"n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,"
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
RFC_CLIENT_PROOF = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
RFC_SERVER_SIGNATURE = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_keys_reproduce_the_rfc_7677_exchange():
    verifier = scram.compute("pencil", salt=base64.b64decode(RFC_SALT), iterations=4096)
    signature = hmac.new(verifier.server_key, RFC_AUTH_MESSAGE, hashlib.sha256).digest()
    assert base64.b64encode(signature).decode() == RFC_SERVER_SIGNATURE
    # The server's check of the client's proof: H(proof XOR HMAC(StoredKey, AuthMessage)).
    client_signature = hmac.new(verifier.stored_key, RFC_AUTH_MESSAGE, hashlib.sha256).digest()
    proof = base64.b64decode(RFC_CLIENT_PROOF)
    client_key = bytes(a ^ b for a, b in zip(proof, client_signature, strict=True))
    assert hashlib.sha256(client_key).digest() == verifier.stored_key


def test_verifier_text_form_and_fresh_salt():
    first, second = scram.scram_verifier("pw"), scram.scram_verifier("pw")
    assert first.startswith("SCRAM-SHA-256$4096:") and first != second
    parsed = scram.parse(first)
    assert parsed is not None and len(parsed.salt) == 16 and parsed.iterations == 4096
    assert str(parsed) == first
    assert scram.verifies(first, "pw") and scram.verifies(second, "pw")
    assert not scram.verifies(first, "pw ")


@pytest.mark.parametrize("stored", ["md5" + "0" * 32, "plain text", "", "SCRAM-SHA-256$x:y$z"])
def test_non_scram_stored_passwords_never_verify(stored):
    assert scram.parse(stored) is None
    assert not scram.verifies(stored, "plain text")


def _psql_stdin(port: int, script: str) -> str:
    """Run a script as postgres with the SQL on stdin, so no password lands on a command line."""
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/psql", "-X", "-q", "-A",
         "-t", "-v", "ON_ERROR_STOP=1", "-p", str(port), "-d", "postgres"],
        input=script, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def probe_server(env_file):
    env_file.data["hba"] = [{"type": "host", "database": "all", "user": "all",
                             "address": "127.0.0.1/32", "method": "scram-sha-256"}]
    env_file.write()
    apply(env_file.path, env_file.state_dir)
    _psql_stdin(env_file.port, "CREATE ROLE probe LOGIN;")
    return env_file


@pytest.mark.parametrize("password", ["server-made", "pässwörd ünïcode", "x1" * 50])
def test_verifier_made_by_postgres_verifies(probe_server, password):
    stored = _psql_stdin(probe_server.port, (
        "SET password_encryption = 'scram-sha-256';\n"
        f"ALTER ROLE probe PASSWORD {sql.Literal(password).as_string(None)};\n"
        "SELECT rolpassword FROM pg_authid WHERE rolname = 'probe';\n"))
    assert stored.startswith("SCRAM-SHA-256$4096:")
    assert scram.verifies(stored, password)
    assert not scram.verifies(stored, password + "!")
    # Recomputing with the stored salt gives the very same text, which is what the roles
    # operation asks the server to compare.
    parsed = scram.parse(stored)
    again = scram.compute(password, salt=parsed.salt, iterations=parsed.iterations)
    assert str(again) == stored


def test_role_with_our_verifier_logs_in_over_tcp(probe_server):
    verifier = scram.scram_verifier("ours-pw-Ü1")
    _psql_stdin(probe_server.port, f"ALTER ROLE probe PASSWORD '{verifier}';")
    with psycopg.connect(host="127.0.0.1", port=probe_server.port, dbname="postgres",
                         user="probe", password="ours-pw-Ü1", connect_timeout=30) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("probe",)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(host="127.0.0.1", port=probe_server.port, dbname="postgres",
                        user="probe", password="ours-pw-U1", connect_timeout=30)
