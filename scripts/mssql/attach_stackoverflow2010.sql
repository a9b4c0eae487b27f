-- Attach Brent Ozar's StackOverflow2010 from the files that download_stackoverflow2010.sh extracted
-- into mssql/backups (mounted at /var/opt/mssql/backup). Re-running is a no-op.
IF DB_ID(N'StackOverflow2010') IS NULL
    CREATE DATABASE [StackOverflow2010]
        ON (FILENAME = N'/var/opt/mssql/backup/StackOverflow2010.mdf'),
           (FILENAME = N'/var/opt/mssql/backup/StackOverflow2010_log.ldf')
        FOR ATTACH;
