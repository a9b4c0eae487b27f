-- Base tables of one schema (partitioned parents included, their partitions not),
-- with the planner's row estimate (reltuples is -1 before the first ANALYZE).
SELECT c.relname, greatest(c.reltuples, 0)::bigint
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema
  AND c.relkind IN ('r', 'p')
  AND NOT c.relispartition
ORDER BY c.relname
