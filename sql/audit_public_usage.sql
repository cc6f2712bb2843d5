-- Whether PUBLIC may use schema public in the current database, as one line
-- "public-usage|<database>|yes" (or "no", or "none" when there is no schema public).
SELECT 'public-usage|' || current_database() || '|' ||
  CASE WHEN NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'public') THEN 'none'
       WHEN EXISTS (SELECT FROM pg_namespace AS n,
                           aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) AS x
                    WHERE n.nspname = 'public' AND x.grantee = 0
                      AND x.privilege_type = 'USAGE') THEN 'yes'
       ELSE 'no' END
