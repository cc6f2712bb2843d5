-- The live state of server parameters: the running value and, for a change waiting on a
-- restart, the value written in postgresql.auto.conf. One JSON document.
SELECT json_build_object(
  'data_directory', current_setting('data_directory'),
  'started', pg_postmaster_start_time(),
  'rows', coalesce(json_agg(json_build_object(
    'name', s.name,
    'setting', s.setting,
    'unit', s.unit,
    'vartype', s.vartype,
    'context', s.context,
    'pending_restart', s.pending_restart,
    'auto_conf', f.setting
  ) ORDER BY s.name), '[]'))
FROM pg_settings AS s
LEFT JOIN (
  SELECT DISTINCT ON (name) name, setting
  FROM pg_file_settings
  WHERE sourcefile LIKE '%/postgresql.auto.conf'
  ORDER BY name, seqno DESC
) AS f ON f.name = s.name
WHERE s.name = ANY ({names}::text[]) OR f.name IS NOT NULL
