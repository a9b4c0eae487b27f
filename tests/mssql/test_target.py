"""SQL Server to SQL Server: ``replicate_stackoverflow_to_target`` between two databases of one TDS server.

Runs only with a real TDS server (``REPLICATION_TEST_MSSQL_URL``, see README.md here); skipped otherwise.

The source is a generated StackOverflow (scale 0.01, ~193,000 rows) built by the project's T-SQL
loader; the DAG copies it into a second database with ``verify=checksums`` (both sides hashed in
T-SQL, or finished by the client where the server cannot), twice in a row, and once with the
target session KILLed mid-load, whose retry must complete without duplicating a row. Every
table is then compared row for row through pymssql, independently of the DAG's own check.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from include.replication.models import TableName
from include.replication.mssql.dialect import fetch_all, qualified, quote, run
from include.replication.report import TableReport, summary_table
from include.replication.settings import APPLICATION_NAME
from include.stackoverflow import sqlserver
from include.stackoverflow.schema import TABLES_BY_NAME
from tests.integration.replication_helpers import NINE, run_dag, task_attempts, task_states
from tests.mssql.mssql_helpers import MssqlServer, scratch_database

TO_TARGET = "replicate_stackoverflow_to_target"
SCALE, SEED = 0.01, 5
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def source_db(mssql_server: MssqlServer) -> Iterator[str]:
    """A generated StackOverflow at SCALE in a scratch database."""
    with scratch_database(mssql_server, "so_source") as name:
        conn = mssql_server.connect(name)
        try:
            sqlserver.generate(conn, scale=SCALE, seed=SEED)
        finally:
            conn.close()
        yield name


@pytest.fixture
def target_db(mssql_server: MssqlServer) -> Iterator[str]:
    """An empty scratch database for the copy."""
    with scratch_database(mssql_server, "so_target") as name:
        yield name


def copy(mssql_server: MssqlServer, source: str, target: str, fresh_database: str, **conf: Any) -> Any:
    """Run the DAG with ``stackoverflow_target`` pointing at ``target`` (the PostgreSQL URL is not used)."""
    os.environ["AIRFLOW_CONN_STACKOVERFLOW_TARGET"] = mssql_server.airflow_uri(target)
    try:
        return run_dag(TO_TARGET, mssql_server.airflow_uri(source), fresh_database, **conf)
    finally:
        del os.environ["AIRFLOW_CONN_STACKOVERFLOW_TARGET"]


def rows_of(conn: Any, table: str) -> list[tuple[Any, ...]]:
    """Every row in key order, each column read as text by the server (style 121 for the temporal types)."""
    columns = ", ".join(
        f"CONVERT(nvarchar(max), {quote(c.name)}, 121)" if c.sql_type == "datetime" else quote(c.name)
        for c in TABLES_BY_NAME[table].columns
    )
    return [
        tuple(r) for r in fetch_all(conn, f"SELECT {columns} FROM {qualified(TableName('dbo', table))} ORDER BY [Id]")
    ]


def assert_same_database(mssql_server: MssqlServer, source: str, target: str, tables: list[str]) -> None:
    """Independently of the DAG: every row equal, the key kept, the identity past max(Id), no staging left."""
    src, dst = mssql_server.connect(source), mssql_server.connect(target)
    try:
        for table in tables:
            assert rows_of(dst, table) == rows_of(src, table), table
            name = qualified(TableName("dbo", table))
            (keys,) = fetch_all(
                dst,
                f"SELECT COUNT(*) FROM sys.key_constraints WHERE parent_object_id = OBJECT_ID(N'{name}') AND type = 'PK'",
            )[0]
            assert keys == 1, table
            current, highest = fetch_all(dst, f"SELECT IDENT_CURRENT(N'{name}'), MAX([Id]) FROM {name}")[0]
            assert int(current) >= max(int(highest or 0), 1) or highest is None, table
        staged = fetch_all(dst, "SELECT name FROM sys.tables WHERE name LIKE '%[_][_]staging'")
        assert staged == []
    finally:
        src.close()
        dst.close()


def assert_verified(dag_run: Any, tables: list[str]) -> None:
    """The run succeeded and verified every table with checksums; its summary is printed (``pytest -s``)."""
    states = task_states(dag_run)
    assert str(dag_run.state) == "success", states
    summary = dag_run.get_task_instance("summarize").xcom_pull(task_ids="summarize")
    print(
        f"\n{TO_TARGET} {dag_run.run_id}:\n"
        + summary_table([TableReport.from_dict(r).stats for r in summary["tables"]])
    )
    checks = {r["verification"]["table"]: r["verification"] for r in summary["tables"]}
    assert sorted(checks) == sorted(f"dbo.{t}" for t in tables)
    assert all(v["mode"] == "checksums" and v["checksum_match"] is True for v in checks.values()), checks


def test_copies_exactly_twice_in_a_row(airflow_db, mssql_server, source_db, target_db, fresh_database):
    """The nine tables, verified with checksums, equal row for row; the second run replaces them exactly."""
    first = copy(mssql_server, source_db, target_db, fresh_database)
    assert_verified(first, NINE)
    assert_same_database(mssql_server, source_db, target_db, NINE)
    second = copy(mssql_server, source_db, target_db, fresh_database)
    assert_verified(second, NINE)
    assert_same_database(mssql_server, source_db, target_db, NINE)


class SessionKiller(threading.Thread):
    """KILLs the first session of the project's that the target database has for ``after`` seconds: mid-load."""

    def __init__(self, server: MssqlServer, database: str, *, after: float) -> None:
        super().__init__(daemon=True, name="kill-target-session")
        self.server, self.database, self.after = server, database, after
        self.killed: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        admin = self.server.connect()
        try:
            seen: dict[int, float] = {}
            while not self.stop.is_set() and not self.killed:
                sessions = fetch_all(
                    admin,
                    "SELECT session_id FROM sys.dm_exec_sessions WHERE database_id = DB_ID(%(db)s) "
                    "AND program_name = %(app)s AND session_id <> @@SPID",
                    {"db": self.database, "app": APPLICATION_NAME},
                )
                now = time.monotonic()
                for (session,) in sessions:
                    if now - seen.setdefault(int(session), now) >= self.after:
                        run(admin, f"KILL {int(session)}")
                        self.killed.append(int(session))
                        break
                time.sleep(0.2)
        finally:
            admin.close()


def test_a_killed_target_session_is_retried_and_nothing_is_duplicated(
    airflow_db, mssql_server, source_db, target_db, fresh_database
):
    """Votes (~101,000 rows): its target session is KILLed mid-load; the retry completes, the copy is exact."""
    killer = SessionKiller(mssql_server, target_db, after=3.0)
    killer.start()
    try:
        dag_run = copy(mssql_server, source_db, target_db, fresh_database, tables=["Votes"], retries=1)
    finally:
        killer.stop.set()
        killer.join(30)
    assert killer.killed, "no target session was seen to kill"
    attempts = task_attempts(dag_run)
    assert attempts["post_dependents.replicate_Votes"] == ("success", 2), attempts
    assert_verified(dag_run, ["Votes"])
    assert_same_database(mssql_server, source_db, target_db, ["Votes"])
