-- Sessions holding the advisory lock that claims a target table (postgres/claims.py), for the
-- message of a run that waits for it. pg_locks shows the two int4 keys as oids.
SELECT a.pid, a.application_name, to_char(a.xact_start AT TIME ZONE 'UTC', 'HH24:MI:SS') AS since,
       left(regexp_replace(a.query, '\s+', ' ', 'g'), 100) AS query
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = hashtext(:namespace)::oid AND l.objid = hashtext(:name)::oid
