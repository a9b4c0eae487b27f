-- Columns in ordinal order. format_type() gives the exact type text to re-create
-- ("character varying(40)", "timestamp(3) without time zone"); a serial's nextval default
-- counts as identity, so it becomes GENERATED ALWAYS AS IDENTITY on the target.
SELECT c.relname,
       a.attname,
       format_type(a.atttypid, a.atttypmod),
       NOT a.attnotnull,
       CASE WHEN a.atttypid IN ('varchar'::regtype, 'bpchar'::regtype) AND a.atttypmod > 4
            THEN a.atttypmod - 4 END,
       information_schema._pg_numeric_precision(a.atttypid, a.atttypmod),
       coalesce(information_schema._pg_numeric_scale(a.atttypid, a.atttypmod),
                information_schema._pg_datetime_precision(a.atttypid, a.atttypmod)),
       a.attidentity <> '' OR coalesce(pg_get_expr(d.adbin, d.adrelid), '') LIKE 'nextval(%'
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = :schema
  AND c.relkind IN ('r', 'p')
  AND NOT c.relispartition
  AND a.attnum > 0
  AND NOT a.attisdropped
ORDER BY c.relname, a.attnum
