-- Everything `pgstead audit` reads from the server, as one JSON document (no secret: md5
-- roles are named, their verifiers never leave the server). names: the parameters to report.
SELECT json_build_object(
  'settings', (SELECT coalesce(json_object_agg(name, json_build_object(
                 'setting', setting, 'unit', unit, 'vartype', vartype, 'enumvals', enumvals)),
               json_build_object())
               FROM pg_settings WHERE name = ANY ({names}::text[])),
  'data_checksums', current_setting('data_checksums'),
  'data_directory', current_setting('data_directory'),
  'md5_roles', (SELECT coalesce(json_agg(rolname ORDER BY rolname), '[]')
                FROM pg_authid WHERE rolpassword LIKE 'md5%'),
  'hba', (SELECT coalesce(json_agg(json_build_object(
            'line', line_number, 'type', type, 'databases', database, 'users', user_name,
            'address', address, 'method', auth_method) ORDER BY line_number), '[]')
          FROM pg_hba_file_rules WHERE error IS NULL),
  'unlimited_roles', (SELECT coalesce(json_agg(rolname ORDER BY rolname), '[]')
                      FROM pg_roles WHERE rolcanlogin AND NOT rolsuper AND rolconnlimit < 0),
  'superuser_connection_limit', (SELECT rolconnlimit FROM pg_roles WHERE rolname = 'postgres'),
  -- Only the first line of the key file: its PEM header says whether it is encrypted.
  'ssl_key_header', CASE WHEN current_setting('ssl') = 'on' THEN split_part(
      pg_read_file(current_setting('ssl_key_file'), 0, 64, true), E'\n', 1) END,
  -- The running postmaster's umask: its pid is the first line of postmaster.pid.
  'postmaster_umask', substring(
      pg_read_file('/proc/' || split_part(pg_read_file('postmaster.pid'), E'\n', 1) || '/status')
      FROM 'Umask:\s*([0-7]+)')
)
