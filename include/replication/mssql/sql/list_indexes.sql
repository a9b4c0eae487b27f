-- Secondary rowstore indexes and unique constraints (not the primary key), key columns in key
-- order; INCLUDE columns are left out. Filtered indexes are skipped, as the PostgreSQL source
-- skips partial ones: re-created without their filter, a unique one could reject valid rows.
-- Columnstore, XML, spatial and hypothetical indexes have no PostgreSQL counterpart here.
SELECT t.name,
       i.name,
       i.is_unique,
       c.name
FROM sys.indexes AS i
JOIN sys.tables AS t ON t.object_id = i.object_id
JOIN sys.schemas AS s ON s.schema_id = t.schema_id
JOIN sys.index_columns AS ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id
JOIN sys.columns AS c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
WHERE s.name = %(schema)s
  AND i.is_primary_key = 0
  AND i.type IN (1, 2)
  AND i.is_hypothetical = 0
  AND i.has_filter = 0
  AND ic.is_included_column = 0
ORDER BY t.name, i.name, ic.key_ordinal
