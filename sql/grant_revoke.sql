REVOKE {option}{privileges} ON {target} FROM {grantee} CASCADE;
