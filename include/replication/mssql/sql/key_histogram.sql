-- The key's statistics histogram, for the partition planner: per step the high key, the rows
-- strictly inside the step and the rows equal to the high key. Index statistics (the primary
-- key's) are preferred over auto-created column statistics. No rows: no statistics on the key.
-- sys.dm_db_stats_histogram needs SQL Server 2016 SP1 CU2 or later.
WITH key_stats AS (
    SELECT TOP (1) s.object_id, s.stats_id
    FROM sys.stats AS s
    JOIN sys.stats_columns AS sc
      ON sc.object_id = s.object_id AND sc.stats_id = s.stats_id AND sc.stats_column_id = 1
    JOIN sys.columns AS c ON c.object_id = sc.object_id AND c.column_id = sc.column_id
    WHERE s.object_id = OBJECT_ID(%(qualified)s) AND c.name = %(key)s
    ORDER BY s.auto_created, s.stats_id
)
SELECT CONVERT(bigint, h.range_high_key), h.range_rows, h.equal_rows
FROM key_stats AS k
CROSS APPLY sys.dm_db_stats_histogram(k.object_id, k.stats_id) AS h
ORDER BY h.step_number
