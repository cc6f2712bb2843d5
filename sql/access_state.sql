-- What the access role reads before it changes anything, in one query: the declared roles
-- and the databases (role_state.sql), and pg_hba.conf's path and digest (hba_state.sql).
SELECT json_build_object(
  'roles', (
{roles}
  ),
  'hba', (
{hba}
  )
)
