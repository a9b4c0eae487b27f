-- The key column's equi-depth histogram and the table's row estimate: the partition planner's
-- distribution, read from the catalog without touching the table. NULL histogram: no ANALYZE yet.
SELECT s.histogram_bounds::text, greatest(c.reltuples, 0)::bigint
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = :key
WHERE n.nspname = :schema AND c.relname = :table
