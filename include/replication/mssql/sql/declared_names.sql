-- Table and column names as declared. sys.* views return names as the server stores them, which
-- on Babelfish is lower case ("Users" reads back as "users"); INFORMATION_SCHEMA keeps the case
-- the CREATE TABLE used, on SQL Server and Babelfish alike. catalog.py renames by these.
SELECT TABLE_NAME,
       COLUMN_NAME
FROM INFORMATION_SCHEMA.COLUMNS
WHERE TABLE_SCHEMA = %(schema)s
ORDER BY TABLE_NAME, ORDINAL_POSITION
