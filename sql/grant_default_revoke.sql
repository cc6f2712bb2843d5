ALTER DEFAULT PRIVILEGES FOR ROLE {owner} {scope} REVOKE {privileges} ON {kind} FROM {grantee};
