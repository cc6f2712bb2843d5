-- The exporter's role as the server knows it, and whether pg_stat_statements is created in
-- the database this runs in (postgres), one JSON document.
-- role: the monitor role's name.
SELECT json_build_object(
  'exists', r.oid IS NOT NULL,
  'login', coalesce(r.rolcanlogin, false),
  'superuser', coalesce(r.rolsuper, false),
  'password', r.rolpassword IS NOT NULL,
  'connection_limit', coalesce(r.rolconnlimit, -1),
  'pg_monitor', coalesce(pg_has_role(r.oid, 'pg_monitor', 'MEMBER'), false),
  'statements', EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements')
)
FROM (SELECT 1) AS one LEFT JOIN pg_authid AS r ON r.rolname = {role}
