-- Primary key columns in key order, one row per column.
SELECT t.name,
       c.name
FROM sys.key_constraints AS k
JOIN sys.tables AS t ON t.object_id = k.parent_object_id
JOIN sys.schemas AS s ON s.schema_id = t.schema_id
JOIN sys.index_columns AS ic ON ic.object_id = k.parent_object_id AND ic.index_id = k.unique_index_id
JOIN sys.columns AS c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
WHERE k.type = 'PK'
  AND s.name = %(schema)s
ORDER BY t.name, ic.key_ordinal
