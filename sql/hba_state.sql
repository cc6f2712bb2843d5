-- Where the server reads pg_hba.conf, as the server sees the path, and a sha256 of its bytes
-- so a converged file is recognised without copying it.
SELECT json_build_object(
  'path', current_setting('hba_file'),
  'sha256', (SELECT encode(sha256(pg_read_binary_file(current_setting('hba_file'))), 'hex'))
)
