-- The target's foreign keys from or to a schema, column pairs in order, with their actions.
SELECT n.nspname::text,
       c.relname::text,
       con.conname::text,
       array_agg(a.attname::text ORDER BY k.ordinality),
       rn.nspname::text,
       rc.relname::text,
       array_agg(ra.attname::text ORDER BY k.ordinality),
       con.confdeltype::text,
       con.confupdtype::text
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class rc ON rc.oid = con.confrelid
JOIN pg_namespace rn ON rn.oid = rc.relnamespace
CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(attnum, refattnum, ordinality)
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
JOIN pg_attribute ra ON ra.attrelid = rc.oid AND ra.attnum = k.refattnum
WHERE con.contype = 'f' AND (n.nspname = :schema OR rn.nspname = :schema)
GROUP BY n.nspname, c.relname, con.conname, rn.nspname, rc.relname, con.confdeltype, con.confupdtype
ORDER BY n.nspname, c.relname, con.conname
