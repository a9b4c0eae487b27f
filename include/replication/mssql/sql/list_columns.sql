-- Columns in column order, with lengths as sys.columns stores them: max_length in bytes (two per
-- character for nchar/nvarchar, -1 for max), precision and scale as declared; the caller turns
-- bytes into characters. Alias types (CREATE TYPE Phone FROM nvarchar(20), and sysname) resolve
-- to their base type through system_type_id. The CLR types hierarchyid, geometry and geography
-- share system_type_id 240, which has no row of its own, so assembly types keep their own name.
SELECT t.name,
       c.name,
       CASE WHEN ut.is_assembly_type = 1 THEN ut.name ELSE bt.name END,
       c.max_length,
       c.precision,
       c.scale,
       c.is_nullable,
       c.is_identity
FROM sys.tables AS t
JOIN sys.schemas AS s ON s.schema_id = t.schema_id
JOIN sys.columns AS c ON c.object_id = t.object_id
JOIN sys.types AS ut ON ut.user_type_id = c.user_type_id
LEFT JOIN sys.types AS bt ON bt.user_type_id = c.system_type_id
WHERE s.name = %(schema)s
  AND t.is_ms_shipped = 0
  AND t.is_external = 0
ORDER BY t.name, c.column_id
