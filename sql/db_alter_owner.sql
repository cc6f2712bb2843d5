ALTER DATABASE {name} OWNER TO {owner};
