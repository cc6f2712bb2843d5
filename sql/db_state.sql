-- The live access state of the current database, one JSON document: its owner and ACL, the
-- managed schemas, installed extensions, every table-like relation and sequence in the
-- managed schemas, and default privileges there (and database-wide ones).
-- Relations that belong to an extension (pg_stat_statements' views in public) are left out:
-- their privileges are the extension script's, and CREATE EXTENSION in the same plan makes
-- them after the state was read, so a plan could never see them coming.
-- An ACL is a list of [grantee, privilege] pairs, '' standing for PUBLIC and a trailing '*'
-- marking a privilege held WITH GRANT OPTION; NULL ACLs are expanded to their defaults and
-- the object owner's own entries are left out.
-- schemas: the managed schema names.
WITH managed AS (
  SELECT n.oid, n.nspname FROM pg_namespace AS n WHERE n.nspname = ANY ({schemas}::text[])
)
SELECT json_build_object(
  'owner', (SELECT pg_get_userbyid(d.datdba) FROM pg_database AS d
            WHERE d.datname = current_database()),
  'acl', (SELECT coalesce(json_agg(json_build_array(
              CASE WHEN x.grantee = 0 THEN '' ELSE pg_get_userbyid(x.grantee) END,
              x.privilege_type || CASE WHEN x.is_grantable THEN '*' ELSE '' END)), '[]')
          FROM pg_database AS d,
               aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) AS x
          WHERE d.datname = current_database() AND x.grantee <> d.datdba),
  'schemas', (SELECT coalesce(json_agg(json_build_object(
      'name', n.nspname,
      'owner', pg_get_userbyid(n.nspowner),
      'acl', (SELECT coalesce(json_agg(json_build_array(
                  CASE WHEN x.grantee = 0 THEN '' ELSE pg_get_userbyid(x.grantee) END,
                  x.privilege_type || CASE WHEN x.is_grantable THEN '*' ELSE '' END)), '[]')
              FROM aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) AS x
              WHERE x.grantee <> n.nspowner))), '[]')
    FROM pg_namespace AS n WHERE n.oid IN (SELECT oid FROM managed)),
  'extensions', (SELECT coalesce(json_agg(json_build_array(e.extname, n.nspname)), '[]')
                 FROM pg_extension AS e JOIN pg_namespace AS n ON n.oid = e.extnamespace),
  'relations', (SELECT coalesce(json_agg(json_build_object(
      'schema', m.nspname,
      'name', c.relname,
      'kind', CASE WHEN c.relkind = 'S' THEN 'sequence' ELSE 'table' END,
      'acl', (SELECT coalesce(json_agg(json_build_array(
                  CASE WHEN x.grantee = 0 THEN '' ELSE pg_get_userbyid(x.grantee) END,
                  x.privilege_type || CASE WHEN x.is_grantable THEN '*' ELSE '' END)), '[]')
              FROM aclexplode(coalesce(c.relacl, acldefault(
                CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner))) AS x
              WHERE x.grantee <> c.relowner)
    ) ORDER BY m.nspname, c.relname), '[]')
    FROM pg_class AS c JOIN managed AS m ON m.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
      AND NOT EXISTS (SELECT 1 FROM pg_depend AS dep
                      WHERE dep.classid = 'pg_class'::regclass AND dep.objid = c.oid
                        AND dep.deptype = 'e')),
  'default_acls', (SELECT coalesce(json_agg(json_build_object(
      'owner', pg_get_userbyid(a.defaclrole),
      'schema', m.nspname,
      'kind', CASE a.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences'
                   WHEN 'f' THEN 'functions' WHEN 'T' THEN 'types' ELSE 'schemas' END,
      'acl', (SELECT coalesce(json_agg(json_build_array(
                  CASE WHEN x.grantee = 0 THEN '' ELSE pg_get_userbyid(x.grantee) END,
                  x.privilege_type || CASE WHEN x.is_grantable THEN '*' ELSE '' END)), '[]')
              FROM aclexplode(a.defaclacl) AS x WHERE x.grantee <> a.defaclrole))), '[]')
    FROM pg_default_acl AS a LEFT JOIN managed AS m ON m.oid = a.defaclnamespace
    WHERE a.defaclnamespace = 0 OR m.oid IS NOT NULL)
)
