-- What a role owns in the current database (default-privilege entries aside), named.
SELECT coalesce(json_agg(x.what ORDER BY x.what), '[]') FROM (
  SELECT pg_describe_object(s.classid, s.objid, s.objsubid) AS what
  FROM pg_shdepend AS s
  WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND s.refclassid = 'pg_authid'::regclass
    AND s.refobjid = (SELECT oid FROM pg_authid WHERE rolname = {role})
    AND s.deptype = 'o' AND s.classid <> 'pg_default_acl'::regclass
  LIMIT 50) AS x
