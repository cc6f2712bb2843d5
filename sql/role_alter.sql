ALTER ROLE {name} {options};
