-- Every column of every ordinary or partitioned table in the database's own schemas, with
-- what the SQLite importer needs to convert values into it: the base type (through
-- domains), length or scale, identity and generation, and the owning sequence if any.
SELECT n.nspname,
       c.relname,
       a.attname,
       format_type(a.atttypid, a.atttypmod) AS declared,
       coalesce(base.typname, t.typname) AS base_type,
       coalesce(base.typtype, t.typtype) AS type_kind,
       CASE WHEN a.atttypmod >= 0 THEN a.atttypmod ELSE t.typtypmod END AS typmod,
       a.attnotnull,
       a.attidentity,
       a.attgenerated,
       a.atthasdef,
       pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), a.attname) AS sequence
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type AS t ON t.oid = a.atttypid
LEFT JOIN pg_type AS base ON t.typtype = 'd' AND base.oid = t.typbasetype
WHERE c.relkind IN ('r', 'p')
  AND NOT c.relispartition
  AND n.nspname <> 'information_schema'
  AND n.nspname NOT LIKE 'pg\_%'
ORDER BY n.nspname, c.relname, a.attnum
