-- The managed roles as the server knows them, one JSON document.
-- A password shows only as its salt and iteration count, which reveal nothing about it: the
-- controller recomputes the verifier with them and asks the server whether it matches
-- (role_password_check.sql, over stdin), so nothing derived from the password is printed.
-- wanted: a JSON array of objects with name and valid_until, one per declared user.
WITH wanted AS (
  SELECT w.name, coalesce(w.valid_until, 'infinity')::timestamptz AS valid_until
  FROM json_to_recordset({wanted}::json) AS w(name text, valid_until text)
)
SELECT json_build_object(
  'roles', coalesce(json_object_agg(a.rolname, json_build_object(
    'superuser', a.rolsuper,
    'createrole', a.rolcreaterole,
    'createdb', a.rolcreatedb,
    'replication', a.rolreplication,
    'bypassrls', a.rolbypassrls,
    'login', a.rolcanlogin,
    'connection_limit', a.rolconnlimit,
    'valid_until_ok', coalesce(a.rolvaliduntil, 'infinity') = w.valid_until,
    'password', CASE
      WHEN a.rolpassword IS NULL THEN NULL
      WHEN a.rolpassword LIKE 'SCRAM-SHA-256$%' THEN json_build_object(
        'iterations', split_part(split_part(a.rolpassword, '$', 2), ':', 1)::int,
        'salt', split_part(split_part(a.rolpassword, '$', 2), ':', 2))
      ELSE json_build_object('iterations', 0, 'salt', '')
    END,
    -- Databases this role owns, and per database the count of objects it owns there
    -- (default-privilege entries aside), for a safe drop.
    'owns_databases', (SELECT coalesce(json_agg(d.datname ORDER BY d.datname), '[]')
                       FROM pg_database AS d WHERE d.datdba = a.oid),
    'depends_in', (SELECT coalesce(json_object_agg(x.datname, x.owned), json_build_object()) FROM (
        SELECT d.datname,
               count(*) FILTER (WHERE s.deptype = 'o'
                                  AND s.classid <> 'pg_default_acl'::regclass) AS owned
        FROM pg_shdepend AS s JOIN pg_database AS d ON d.oid = s.dbid
        WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = a.oid
        GROUP BY d.datname) AS x)
  )), json_build_object()),
  'databases', (SELECT coalesce(json_object_agg(d.datname, pg_get_userbyid(d.datdba)), json_build_object())
                FROM pg_database AS d WHERE NOT d.datistemplate)
)
FROM pg_authid AS a JOIN wanted AS w ON w.name = a.rolname
