-- Primary key columns in key order, one row per column. From INFORMATION_SCHEMA rather than
-- sys.key_constraints: Babelfish's key_constraints.unique_index_id does not match its
-- sys.index_columns, so the join found no key there; the standard views agree on both engines.
SELECT kcu.TABLE_NAME,
       kcu.COLUMN_NAME
FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS AS tc
JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE AS kcu
  ON kcu.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA
 AND kcu.CONSTRAINT_NAME = tc.CONSTRAINT_NAME
 AND kcu.TABLE_NAME = tc.TABLE_NAME
WHERE tc.CONSTRAINT_TYPE = 'PRIMARY KEY'
  AND tc.TABLE_SCHEMA = %(schema)s
ORDER BY kcu.TABLE_NAME, kcu.ORDINAL_POSITION
