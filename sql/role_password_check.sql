-- Which roles store exactly the candidate verifier, as name -> true/false. The candidates are
-- secrets: this arrives on stdin after session_unlogged.sql, and only booleans come back.
SELECT coalesce(json_object_agg(c.name, a.rolpassword IS NOT DISTINCT FROM c.candidate),
                json_build_object())
FROM json_to_recordset({candidates}::json) AS c(name text, candidate text)
LEFT JOIN pg_authid AS a ON a.rolname = c.name
