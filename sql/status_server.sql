-- One host's health for `pgstead status`, one JSON document. Holds no statement text other
-- than pg_stat_statements' normalised queries (constants replaced by $n; utility statements
-- are not tracked: pg_stat_statements.track_utility is off).
SELECT json_build_object(
  'in_recovery', pg_is_in_recovery(),
  'uptime_seconds', extract(epoch FROM now() - pg_postmaster_start_time())::bigint,
  'version', current_setting('server_version'),
  'max_connections', current_setting('max_connections')::int,
  'reserved_connections', current_setting('superuser_reserved_connections')::int,
  'connections', (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
  'users', (SELECT coalesce(json_agg(json_build_object(
      'name', r.rolname, 'limit', r.rolconnlimit,
      'connections', (SELECT count(*) FROM pg_stat_activity AS a
                      WHERE a.usename = r.rolname AND a.backend_type = 'client backend'))
      ORDER BY r.rolname), '[]')
    FROM pg_roles AS r WHERE r.rolcanlogin),
  'replicas', (SELECT coalesce(json_agg(json_build_object(
      'name', application_name, 'address', client_addr::text, 'state', state,
      'lag_seconds', coalesce(extract(epoch FROM replay_lag), 0),
      'lag_bytes', pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn))), '[]')
    FROM pg_stat_replication),
  'replica_lag_seconds', CASE WHEN pg_is_in_recovery() THEN
      coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END,
  'pending_restart', (SELECT coalesce(json_agg(name ORDER BY name), '[]')
                      FROM pg_settings WHERE pending_restart),
  'largest_databases', (SELECT coalesce(json_agg(x), '[]') FROM (
      SELECT datname AS name, pg_database_size(datname) AS bytes FROM pg_database
      WHERE datallowconn ORDER BY 2 DESC LIMIT 5) AS x),
  'longest_transaction', (SELECT row_to_json(x) FROM (
      SELECT pid, usename AS "user", datname AS database, state,
             extract(epoch FROM now() - xact_start)::bigint AS seconds
      FROM pg_stat_activity WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid()
      ORDER BY xact_start LIMIT 1) AS x),
  'statements_enabled', EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements')
)
