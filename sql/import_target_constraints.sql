-- Primary keys, unique constraints and foreign keys of the database's own tables, with the
-- columns in key order and each foreign key's referenced table, definition and referenced
-- columns.
SELECT n.nspname,
       c.relname,
       con.conname,
       con.contype,
       con.condeferrable,
       ARRAY(SELECT a.attname
             FROM unnest(con.conkey) WITH ORDINALITY AS k(num, ord)
             JOIN pg_attribute AS a ON a.attrelid = con.conrelid AND a.attnum = k.num
             ORDER BY k.ord) AS columns,
       rn.nspname AS ref_schema,
       rc.relname AS ref_table,
       pg_get_constraintdef(con.oid) AS definition,
       ARRAY(SELECT a.attname
             FROM unnest(con.confkey) WITH ORDINALITY AS k(num, ord)
             JOIN pg_attribute AS a ON a.attrelid = con.confrelid AND a.attnum = k.num
             ORDER BY k.ord) AS ref_columns
FROM pg_constraint AS con
JOIN pg_class AS c ON c.oid = con.conrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
LEFT JOIN pg_class AS rc ON rc.oid = con.confrelid
LEFT JOIN pg_namespace AS rn ON rn.oid = rc.relnamespace
WHERE con.contype IN ('p', 'u', 'f')
  AND n.nspname <> 'information_schema'
  AND n.nspname NOT LIKE 'pg\_%'
ORDER BY n.nspname, c.relname, con.contype, con.conname
