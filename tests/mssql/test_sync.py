"""``load_mode=sync`` from a SQL Server source, into PostgreSQL and into another SQL Server database.

Runs only with a TDS server (``REPLICATION_TEST_MSSQL_URL``, see README.md here); skipped otherwise.

After a full run, Votes is changed on the source (updates and deletes spread over the key space,
inserts at the end); the sync run re-copies exactly the changed keys, nothing for the other
tables, and the target then equals the source row for row, read through pymssql and pg8000
(or pymssql on both sides), independently of the DAG's checksums.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from include.replication.models import TableName
from include.replication.mssql.dialect import qualified, quote
from include.replication.postgres.dialect import quote as pg_quote
from include.stackoverflow.schema import TABLES_BY_NAME
from tests.integration.replication_helpers import run_dag, task_states
from tests.mssql.mssql_helpers import MssqlServer, execute, generated_stackoverflow, pg_rows, query, scratch_database

STREAMING = "replicate_stackoverflow_to_postgres_parallel"
TO_TARGET = "replicate_stackoverflow_to_target"
TABLES = ["Votes", "Users", "Badges"]
pytestmark = pytest.mark.slow


@pytest.fixture
def sync_source(mssql_server: MssqlServer) -> Iterator[str]:
    with generated_stackoverflow(mssql_server, "so_sync", scale=0.0005, seed=13) as name:
        yield name


def change_votes(conn: Any) -> int:
    """Delete every 97th key, update every 31st (of the rest), insert 20 past the end; returns the keys touched."""
    before = {k for (k,) in query(conn, "SELECT [Id] FROM [dbo].[Votes]")}
    deleted = {k for k in before if k % 97 == 0}
    updated = {k for k in before if k % 31 == 0} - deleted
    execute(conn, "DELETE FROM [dbo].[Votes] WHERE [Id] % 97 = 0")
    execute(conn, "UPDATE [dbo].[Votes] SET [BountyAmount] = ISNULL([BountyAmount], 0) + 5 "
                  "WHERE [Id] % 31 = 0")  # fmt: skip
    top = max(before)
    execute(conn, "SET IDENTITY_INSERT [dbo].[Votes] ON; "
                  "INSERT INTO [dbo].[Votes] ([Id], [PostId], [UserId], [BountyAmount], [VoteTypeId], [CreationDate]) "
                  f"SELECT {top} + n, 1, NULL, NULL, 2, '2011-01-01' FROM (SELECT TOP (20) "
                  "ROW_NUMBER() OVER (ORDER BY [Id]) AS n FROM [dbo].[Votes]) AS g; "
                  "SET IDENTITY_INSERT [dbo].[Votes] OFF")  # fmt: skip
    return len(deleted) + len(updated) + 20


def mssql_rows(server: MssqlServer, database: str, table: str) -> list[tuple]:
    columns = ", ".join(quote(c.name) for c in TABLES_BY_NAME[table].columns)
    conn = server.connect(database)
    try:
        return query(conn, f"SELECT {columns} FROM {qualified(TableName('dbo', table))} ORDER BY [Id]")
    finally:
        conn.close()


def stats_of(run: Any) -> dict[str, dict]:
    summary = run.get_task_instance("summarize").xcom_pull(task_ids="summarize")
    return {t["stats"]["table"].split(".", 1)[1]: t["stats"] for t in summary["tables"]}


def test_sync_into_postgres(airflow_db: str, mssql_server: MssqlServer, sync_source: str, fresh_database: str):
    """SQL Server -> PostgreSQL: the sync re-copies the changed Votes keys only; every table then equal."""
    uri = mssql_server.airflow_uri(sync_source)
    assert str(run_dag(STREAMING, uri, fresh_database, tables=TABLES).state) == "success"
    conn = mssql_server.connect(sync_source)
    try:
        touched = change_votes(conn)
    finally:
        conn.close()
    sync = run_dag(STREAMING, uri, fresh_database, tables=TABLES, load_mode="sync")
    assert str(sync.state) == "success", task_states(sync)
    stats = stats_of(sync)
    assert stats["Votes"]["recopied_keys"] == touched
    assert stats["Users"]["recopied_keys"] == stats["Badges"]["recopied_keys"] == 0
    for table in TABLES:
        columns = ", ".join(pg_quote(c.name) for c in TABLES_BY_NAME[table].columns)
        got = pg_rows(fresh_database, f'SELECT {columns} FROM public.{pg_quote(table)} ORDER BY "Id"')
        assert got == mssql_rows(mssql_server, sync_source, table), table


def test_sync_into_sql_server(airflow_db: str, mssql_server: MssqlServer, sync_source: str, fresh_database: str):
    """SQL Server -> SQL Server (``replicate_stackoverflow_to_target``): the same, both sides T-SQL."""
    with scratch_database(mssql_server, "so_sync_target") as target:
        os.environ["AIRFLOW_CONN_STACKOVERFLOW_TARGET"] = mssql_server.airflow_uri(target)
        try:
            uri = mssql_server.airflow_uri(sync_source)
            assert str(run_dag(TO_TARGET, uri, fresh_database, tables=TABLES).state) == "success"
            conn = mssql_server.connect(sync_source)
            try:
                touched = change_votes(conn)
            finally:
                conn.close()
            sync = run_dag(TO_TARGET, uri, fresh_database, tables=TABLES, load_mode="sync")
            assert str(sync.state) == "success", task_states(sync)
            assert stats_of(sync)["Votes"]["recopied_keys"] == touched
            for table in TABLES:
                assert mssql_rows(mssql_server, target, table) == mssql_rows(mssql_server, sync_source, table), table
        finally:
            os.environ.pop("AIRFLOW_CONN_STACKOVERFLOW_TARGET", None)
