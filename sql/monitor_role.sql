-- The exporter's role: login without a password (peer authentication only), no superuser,
-- a member of pg_monitor, a small connection limit.
-- name: the role (identifier); limit: its connection limit.
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {name_text}) THEN
    CREATE ROLE {name} LOGIN;
  END IF;
END $$;
ALTER ROLE {name} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD NULL CONNECTION LIMIT {limit};
GRANT pg_monitor TO {name};
