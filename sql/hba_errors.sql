-- Problems PostgreSQL finds in pg_hba.conf as it is on disk now (empty when none).
SELECT coalesce(string_agg('line ' || line_number || ': ' || error, '; ' ORDER BY line_number), '')
FROM pg_hba_file_rules WHERE error IS NOT NULL
