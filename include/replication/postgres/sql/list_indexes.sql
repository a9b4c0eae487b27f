-- Secondary indexes on plain columns (not the primary key). Expression and partial indexes
-- are listed with a NULL column so the caller can report them instead of re-creating them wrong.
SELECT c.relname,
       i.relname::text,
       array_agg(a.attname::text ORDER BY k.ordinality),
       x.indisunique,
       bool_or(k.attnum = 0) OR x.indpred IS NOT NULL
FROM pg_index x
JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ordinality)
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
WHERE n.nspname = :schema AND NOT x.indisprimary AND k.ordinality <= x.indnkeyatts
GROUP BY c.relname, i.relname, x.indisunique, x.indpred
ORDER BY c.relname, i.relname
