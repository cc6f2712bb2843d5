ALTER DEFAULT PRIVILEGES FOR ROLE {owner} {scope} GRANT {privileges} ON {kind} TO {grantee};
