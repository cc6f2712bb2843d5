GRANT {privileges} ON {target} TO {grantee};
