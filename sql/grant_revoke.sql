REVOKE {privileges} ON {target} FROM {grantee};
