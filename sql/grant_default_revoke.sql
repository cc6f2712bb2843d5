ALTER DEFAULT PRIVILEGES FOR ROLE {owner} {scope} REVOKE {option}{privileges} ON {kind} FROM {grantee} CASCADE;
