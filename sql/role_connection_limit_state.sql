-- One role's connection limit, as JSON (null: no such role). name: the role.
SELECT to_json((SELECT rolconnlimit FROM pg_roles WHERE rolname = {name}))
