ALTER SCHEMA {name} OWNER TO {owner};
