CREATE ROLE {name} {options};
