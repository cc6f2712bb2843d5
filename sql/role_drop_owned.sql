DROP OWNED BY {name};
