-- Foreign keys with their column pairs in order.
SELECT c.relname,
       con.conname::text,
       array_agg(a.attname::text ORDER BY k.ordinality),
       rn.nspname::text,
       rc.relname::text,
       array_agg(ra.attname::text ORDER BY k.ordinality)
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class rc ON rc.oid = con.confrelid
JOIN pg_namespace rn ON rn.oid = rc.relnamespace
CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(attnum, refattnum, ordinality)
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
JOIN pg_attribute ra ON ra.attrelid = rc.oid AND ra.attnum = k.refattnum
WHERE con.contype = 'f' AND n.nspname = :schema
GROUP BY c.relname, con.conname, rn.nspname, rc.relname
ORDER BY c.relname, con.conname
