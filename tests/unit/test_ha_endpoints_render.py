"""HAProxy and keepalived configurations, the endpoints' certificate names and the endpoint
URLs of `pgstead env`: pure logic over a built Environment."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pgstead.cli.connection_info import ConnectionInfo
from pgstead.cli.ha_connection import ha_variables
from pgstead.config.model import Environment, Ha, HaEndpoints
from pgstead.desired.endpoints import balancers, endpoint_sans
from pgstead.render.haproxy import Backend, render_haproxy_config
from pgstead.render.keepalived import render_keepalived_config, virtual_router_id

MEMBERS = [("db1", "10.0.0.11"), ("db2", "10.0.0.12"), ("db3", "10.0.0.13")]


def env(**ha: object) -> Environment:
    return Environment(name="prod", source=Path("/x/prod.yml"), state_dir=Path("/x/state"),
                       ha=Ha(scope="prod", **ha))


def config(endpoints: HaEndpoints | None = None) -> str:
    endpoints = endpoints or HaEndpoints()
    backends = [Backend(n, a, 5432, 8008) for n, a in MEMBERS]
    return render_haproxy_config("prod", endpoints, backends, "/etc/pgstead/haproxy/ca.crt")


def section(text: str, name: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(f"listen {name}")
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].strip()), len(lines))
    return [line.strip() for line in lines[start + 1:end]]


def test_leader_port_checks_primary_over_tls_and_cuts_sessions_of_a_demoted_leader():
    leader = section(config(), "leader")
    assert "bind 0.0.0.0:5000" in leader
    assert "http-check send meth GET uri /primary" in leader
    assert any("on-marked-down shutdown-sessions" in line for line in leader)
    servers = [line for line in leader if line.startswith("server ")]
    assert len(servers) == 3
    assert all("check-ssl verify required ca-file /etc/pgstead/haproxy/ca.crt" in s
               for s in servers)
    assert "server db2 10.0.0.12:5432 check port 8008" in servers[1]
    assert "check-sni db2 verifyhost db2" in servers[1]


def test_a_refused_connection_marks_a_member_down_without_waiting_for_two_checks():
    text = config()
    leader = section(text, "leader")
    assert "balance first" in leader
    servers = [line for line in leader if line.startswith("server ")]
    assert all(s.endswith("observe layer4 error-limit 1 on-error mark-down") for s in servers)
    assert any("inter 1s fastinter 250ms downinter 500ms fall 2 rise 1" in line
               for line in leader)
    defaults = text.split("\ndefaults\n", 1)[1].split("\n\n", 1)[0]
    assert "timeout check 1s" in defaults and "option redispatch 1" in defaults
    # The read port's leader fallback tracks the leader port: no checks of its own.
    read = section(text, "read")
    assert not any("observe" in line for line in read if " backup " in line)
    assert any("on-marked-up shutdown-backup-sessions" in line for line in read)
    assert "listen leader_direct" not in text


def test_with_a_pooler_the_ports_reach_pgbouncer_and_a_direct_port_reaches_postgres():
    backends = [Backend(n, a, 5432, 8008, 6432) for n, a in MEMBERS]
    text = render_haproxy_config("prod", HaEndpoints(direct_port=5012), backends, "/ca.crt")
    leader, read = section(text, "leader"), section(text, "read")
    assert "server db1 10.0.0.11:6432 check port 8008" in leader[-3]
    assert all(":6432 " in line for line in read if line.startswith("server "))
    direct = section(text, "leader_direct")
    assert "bind 0.0.0.0:5012" in direct
    assert [line for line in direct if line.startswith("server ")] == [
        f"server {n} {a}:5432 track leader/{n}" for n, a in MEMBERS]


def test_read_port_checks_replica_lag_and_falls_back_to_the_tracked_leader():
    read = section(config(HaEndpoints(read_port=6001, max_lag_bytes=16 * 1024 ** 2)), "read")
    assert "bind 0.0.0.0:6001" in read
    assert f"http-check send meth GET uri /replica?lag={16 * 1024 ** 2}" in read
    backups = [line for line in read if " backup " in line]
    assert backups == [f"server {n}-leader {a}:5432 backup track leader/{n}"
                       for n, a in MEMBERS]


def test_stats_listen_on_localhost_only():
    stats = section(config(HaEndpoints(stats_port=7100, bind="10.0.0.11")), "stats")
    assert "bind 127.0.0.1:7100" in stats
    assert "bind 10.0.0.11:5000" in section(config(HaEndpoints(bind="10.0.0.11")), "leader")


def test_balancers_default_to_every_member_or_the_listed_ones():
    names = [n for n, _ in MEMBERS]
    assert balancers(env(), names) == names
    assert balancers(env(balancers=("db3", "db1")), names) == ["db1", "db3"]


def test_certificates_carry_the_balancers_and_the_virtual_address():
    assert endpoint_sans(env(balancers=("db2",)), MEMBERS) == ["10.0.0.12"]
    assert endpoint_sans(env(vip="10.0.0.50/24", interface="eth0"), MEMBERS) == [
        "10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.50"]
    plain = Environment(name="x", source=Path("/x.yml"), state_dir=Path("/s"))
    assert endpoint_sans(plain, MEMBERS) == []


def info() -> ConnectionInfo:
    return ConnectionInfo(user="app", password=None, hosts=tuple(a for _, a in MEMBERS),
                          port=5432, database="app", ssl_mode="verify-full",
                          ssl_root_cert=Path("/ca.crt"), ssl_cert=None, ssl_key=None,
                          pool_size=10, target_session_attrs="read-write")


def test_env_urls_go_through_the_endpoints_and_keep_the_multi_host_url():
    out = ha_variables(env(), info(), MEMBERS, None)
    assert out["DATABASE_URL"].startswith("postgresql://app@10.0.0.11:5000/app?")
    assert "target_session_attrs" not in out["DATABASE_URL"]
    assert out["DATABASE_URL_READONLY"].startswith("postgresql://app@10.0.0.11:5001/app?")
    assert out["DATABASE_URL_MULTIHOST"].startswith(
        "postgresql://app@10.0.0.11:5432,10.0.0.12:5432,10.0.0.13:5432/app?")
    assert "target_session_attrs=read-write" in out["DATABASE_URL_MULTIHOST"]
    assert (out["DB_HOST"], out["DB_PORT"]) == ("10.0.0.11", "5000")
    with_vip = ha_variables(env(vip="10.0.0.50/24", interface="eth0"), info(), MEMBERS, None)
    assert with_vip["DB_HOST"] == "10.0.0.50"
    assert ha_variables(env(), info(), MEMBERS, "db.example")["DB_HOST"] == "db.example"
    # A password shows only when asked.
    secret = replace(info(), password=None)
    assert "********" not in ha_variables(env(), secret, MEMBERS, None)["DATABASE_URL"]
    assert "DIRECT_DATABASE_URL" not in out


def test_env_urls_with_a_pooler_reach_pgbouncer_and_migrations_go_direct():
    pooled = replace(info(), port=6432, direct_port=5432, pool_mode="transaction",
                     url_params=(("pgbouncer", "true"),))
    out = ha_variables(env(), pooled, MEMBERS, None)
    assert out["DATABASE_URL"].startswith("postgresql://app@10.0.0.11:5000/app?")
    assert "pgbouncer=true" in out["DATABASE_URL"]
    assert out["DIRECT_DATABASE_URL"].startswith("postgresql://app@10.0.0.11:5002/app?")
    assert "pgbouncer=true" not in out["DIRECT_DATABASE_URL"]
    # The multi-host URL asks each server itself whether it is the leader: past pgbouncer.
    assert out["DATABASE_URL_MULTIHOST"].startswith(
        "postgresql://app@10.0.0.11:5432,10.0.0.12:5432,10.0.0.13:5432/app?")
    assert "pgbouncer=true" not in out["DATABASE_URL_MULTIHOST"]
    assert list(out)[:4] == ["DATABASE_URL", "DIRECT_DATABASE_URL", "DATABASE_URL_READONLY",
                             "DATABASE_URL_MULTIHOST"]


def test_keepalived_follows_the_leader_by_a_track_script_over_unicast():
    text = render_keepalived_config("prod", "db1", "10.0.0.11", ["10.0.0.12", "10.0.0.13"],
                                    "10.0.0.50/24", "eth0", "/usr/local/sbin/check")
    lines = [line.strip() for line in text.splitlines()]
    assert 'script "/usr/local/sbin/check"' in lines
    assert "state BACKUP" in lines and "unicast_src_ip 10.0.0.11" in lines
    peers = lines[lines.index("unicast_peer {") + 1:lines.index("unicast_peer {") + 3]
    assert peers == ["10.0.0.12", "10.0.0.13"]
    assert "10.0.0.50/24 dev eth0" in lines
    assert f"virtual_router_id {virtual_router_id('prod')}" in lines
    assert 1 <= virtual_router_id("prod") <= 255
    assert virtual_router_id("prod") != virtual_router_id("staging")
