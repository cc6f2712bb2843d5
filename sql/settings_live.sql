-- The live state of server parameters: the running value and, for a change waiting on a
-- restart, the value written in postgresql.auto.conf. One JSON document.
SELECT json_build_object(
  'data_directory', current_setting('data_directory'),
  'started', pg_postmaster_start_time(),
  'rows', coalesce(json_agg(json_build_object(
    'name', coalesce(s.name, f.name),
    'setting', coalesce(s.setting, f.setting),
    'unit', s.unit,
    'vartype', coalesce(s.vartype, 'string'),
    'context', coalesce(s.context, 'sighup'),
    'pending_restart', coalesce(s.pending_restart, false),
    'auto_conf', f.setting
  ) ORDER BY coalesce(s.name, f.name)), '[]'))
FROM pg_settings AS s
-- FULL JOIN: a library's parameter written by ALTER SYSTEM is missing from pg_settings until
-- a restart loads the library; the file's value stands for it meanwhile.
FULL JOIN (
  SELECT DISTINCT ON (name) name, setting
  FROM pg_file_settings
  WHERE sourcefile LIKE '%/postgresql.auto.conf'
  ORDER BY name, seqno DESC
) AS f ON f.name = s.name
WHERE s.name = ANY ({names}::text[]) OR f.name IS NOT NULL
