"""A SQL Server source written to during a run: SNAPSHOT isolation, or re-copies without it.

Runs only with a TDS server (``REPLICATION_TEST_MSSQL_URL``, see README.md here); skipped otherwise.

On SQL Server, ``SqlServerSource.snapshot`` opens a transaction in SNAPSHOT isolation where the
database allows it (``ALLOW_SNAPSHOT_ISOLATION``). Babelfish maps SNAPSHOT to PostgreSQL's
REPEATABLE READ and reports every database as allowing it; it refuses ``ALTER DATABASE``, so the
path without snapshot isolation is proven here only on SQL Server (skipped, naming the probe, on
Babelfish) and, with the same engine code, against PostgreSQL in ``integration/test_live_source.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from include.replication.models import TableName
from include.replication.mssql.dialect import fetch_all, qualified, quote
from include.replication.mssql.source import SqlServerSource
from include.replication.postgres.dialect import quote as pg_quote
from include.stackoverflow.schema import TABLES_BY_NAME
from tests.integration.replication_helpers import run_dag, task_states
from tests.mssql.mssql_helpers import (
    MssqlServer,
    execute,
    generated_stackoverflow,
    pg_rows,
    query,
    skip_for,
)

STREAMING = "replicate_stackoverflow_to_postgres_parallel"
pytestmark = pytest.mark.slow


@pytest.fixture
def live_source(mssql_server: MssqlServer) -> Iterator[str]:
    """A small generated StackOverflow (about 9,700 rows) in a scratch database of its own."""
    with generated_stackoverflow(mssql_server, "so_live", scale=0.0005, seed=12) as name:
        yield name


def votes_count(conn: Any) -> int:
    return int(fetch_all(conn, "SELECT COUNT_BIG(*) FROM [dbo].[Votes]")[0][0])


def test_snapshot_reads_one_state_while_another_session_writes(mssql_server: MssqlServer, live_source: str):
    """Inside ``snapshot()`` a row committed by another session is not seen; after it, it is."""
    reader, writer = mssql_server.connect(live_source), mssql_server.connect(live_source)
    try:
        source = SqlServerSource(reader)
        with source.snapshot() as snapshot:
            assert snapshot.taken, snapshot.description
            before = votes_count(reader)
            execute(writer, "DELETE FROM [dbo].[Votes] WHERE [Id] = (SELECT MIN([Id]) FROM [dbo].[Votes])")
            assert votes_count(writer) == before - 1
            assert votes_count(reader) == before  # the snapshot's state
        assert votes_count(reader) == before - 1
    finally:
        reader.close()
        writer.close()


def test_without_snapshot_isolation_the_snapshot_says_why(mssql_server: MssqlServer, live_source: str):
    """``ALLOW_SNAPSHOT_ISOLATION OFF``: no snapshot, and the description names the database and the fix."""
    skip_for(mssql_server.traits.single_user)  # the same ALTER DATABASE refusal
    admin = mssql_server.connect()
    try:
        execute(admin, f"ALTER DATABASE {quote(live_source)} SET ALLOW_SNAPSHOT_ISOLATION OFF")
    finally:
        admin.close()
    conn = mssql_server.connect(live_source)
    try:
        with SqlServerSource(conn).snapshot() as snapshot:
            assert not snapshot.taken
            assert f"database '{live_source}' does not allow snapshot isolation" in snapshot.description
            assert "SET ALLOW_SNAPSHOT_ISOLATION ON" in snapshot.description
    finally:
        conn.close()


class Writer(threading.Thread):
    """Inserts, updates and deletes on Votes, one small committed transaction every 20 ms, until stopped."""

    def __init__(self, conn: Any) -> None:
        super().__init__(daemon=True)
        self.conn, self.stop, self.error, self.writes = conn, threading.Event(), None, 0

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                step = self.writes % 3
                if step == 0:
                    execute(self.conn, "SET IDENTITY_INSERT [dbo].[Votes] ON; INSERT INTO [dbo].[Votes] "
                            "([Id], [PostId], [UserId], [BountyAmount], [VoteTypeId], [CreationDate]) "
                            "SELECT MAX([Id]) + 1, 1, NULL, NULL, 2, '2011-01-01' FROM [dbo].[Votes]; "
                            "SET IDENTITY_INSERT [dbo].[Votes] OFF")  # fmt: skip
                elif step == 1:
                    execute(self.conn, "UPDATE [dbo].[Votes] SET [BountyAmount] = ISNULL([BountyAmount], 0) + 1 "
                            f"WHERE [Id] % 50 = {self.writes % 50}")  # fmt: skip
                else:
                    execute(self.conn, "DELETE FROM [dbo].[Votes] WHERE [Id] = (SELECT MIN([Id]) + "
                            f"{self.writes} FROM [dbo].[Votes])")  # fmt: skip
                self.writes += 1
                time.sleep(0.02)
        except BaseException as error:  # reported by the test
            self.error = error


def test_streaming_dag_under_writes_then_sync(
    airflow_db: str, mssql_server: MssqlServer, live_source: str, fresh_database: str
):
    """The run succeeds under writes; a sync afterwards makes Votes equal, row for row, to pymssql's reading."""
    uri = mssql_server.airflow_uri(live_source)
    writer = Writer(mssql_server.connect(live_source))
    writer.start()
    try:
        run = run_dag(STREAMING, uri, fresh_database, tables=["Votes", "Users"])
    finally:
        writer.stop.set()
        writer.join(30)
        writer.conn.close()
    assert writer.error is None, writer.error
    assert str(run.state) == "success", task_states(run)
    assert writer.writes > 10
    summary = run.get_task_instance("summarize").xcom_pull(task_ids="summarize")
    votes = next(t["stats"] for t in summary["tables"] if t["stats"]["table"] == "dbo.Votes")
    assert "SNAPSHOT" in votes["snapshot"], votes["snapshot"]

    sync = run_dag(STREAMING, uri, fresh_database, tables=["Votes", "Users"], load_mode="sync")
    assert str(sync.state) == "success", task_states(sync)
    columns = [c.name for c in TABLES_BY_NAME["Votes"].columns]
    conn = mssql_server.connect(live_source)
    try:
        expected = query(conn, f"SELECT {', '.join(quote(c) for c in columns)} "
                               f"FROM {qualified(TableName('dbo', 'Votes'))} ORDER BY [Id]")  # fmt: skip
    finally:
        conn.close()
    got = pg_rows(fresh_database, f'SELECT {", ".join(pg_quote(c) for c in columns)} FROM public."Votes" ORDER BY "Id"')
    assert got == expected
