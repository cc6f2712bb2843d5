-- This session carries password verifiers: keep every statement of it, and any error
-- quoting one, out of the server log (even under log_statement = all), and keep psql from
-- echoing statement text in its error context.
\set VERBOSITY terse
SET log_statement = 'none';
SET log_min_duration_statement = -1;
SET log_min_error_statement = 'panic';
SET log_duration = off;
SET pgaudit.log = 'none';
