-- The five statements with the most execution time (pg_stat_statements, PostgreSQL 13+).
SELECT coalesce(json_agg(x), '[]') FROM (
  SELECT left(regexp_replace(s.query, '\s+', ' ', 'g'), 120) AS query, s.calls,
         round((s.total_exec_time / 1000)::numeric, 3) AS total_seconds,
         round(s.mean_exec_time::numeric, 3) AS mean_ms, d.datname AS database
  FROM pg_stat_statements AS s JOIN pg_database AS d ON d.oid = s.dbid
  ORDER BY s.total_exec_time DESC LIMIT 5) AS x
