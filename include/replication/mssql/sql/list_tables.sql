-- Base tables of one schema with the row count of their heap or clustered index (index_id 0 or 1,
-- summed over partitions). sys.partitions needs only metadata visibility, where
-- sys.dm_db_partition_stats needs VIEW DATABASE STATE. Names sort in the database's collation.
-- A count below zero means "not known" (Babelfish reports PostgreSQL's -1 before ANALYZE): 0.
SELECT t.name,
       CASE WHEN SUM(p.rows) > 0 THEN SUM(p.rows) ELSE 0 END
FROM sys.tables AS t
JOIN sys.schemas AS s ON s.schema_id = t.schema_id
LEFT JOIN sys.partitions AS p ON p.object_id = t.object_id AND p.index_id IN (0, 1)
WHERE s.name = %(schema)s
  AND t.is_ms_shipped = 0
  AND t.is_external = 0
GROUP BY t.name
ORDER BY t.name
