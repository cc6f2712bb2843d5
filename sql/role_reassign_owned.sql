REASSIGN OWNED BY {name} TO {new_owner};
