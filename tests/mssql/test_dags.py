"""Both DAGs end to end with dag.test() and a real SQL Server as the source, verified with checksums.

Runs only with a real SQL Server (``REPLICATION_TEST_MSSQL_URL``, see README.md here); skipped otherwise.

The source is given to the DAGs as Airflow connection ``stackoverflow_source`` of type mssql
(``AIRFLOW_CONN_STACKOVERFLOW_SOURCE=mssql://...``), the way ``replication_helpers.run_dag`` points
them at a PostgreSQL source. Three sources, each built by ``include/stackoverflow/sqlserver.py``
from the project's T-SQL script: a small generated StackOverflow, a real Stack Exchange dump
(skipped, saying so, without ../shared/data/stackexchange), and the attached StackOverflow2010
itself, for Users and Badges (skipped when absent).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from include.replication.models import TableName
from include.replication.mssql.dialect import qualified, quote
from include.replication.postgres.dialect import quote as pg_quote
from include.stackoverflow import sqlserver
from include.stackoverflow.schema import ROW_COUNTS, TABLES_BY_NAME
from tests.conftest import STACKEXCHANGE_DIR, require_stackexchange_dir
from tests.integration.replication_helpers import (
    NINE,
    content_hash,
    identity_state,
    key_and_identity,
    run_dag,
    table_names,
    task_states,
)
from tests.integration.test_load_dump import IOTA_ROWS
from tests.mssql.mssql_helpers import MssqlServer, pg_rows, query, scratch_database

STREAMING = "replicate_stackoverflow_to_postgres_parallel"
BULK = "replicate_stackoverflow_to_postgres_bulk_parallel"
SCALE, SEED = 0.0005, 11  # about 9,700 rows: Votes 5,072, Comments 1,938, Posts 1,865, ...
DUMP = "iota.stackexchange.com"  # the primary real test set
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_stackoverflow(mssql_server: MssqlServer) -> Iterator[str]:
    """A scratch database: the nine tables from the T-SQL script, the lookup rows, and generated rows at SCALE."""
    with scratch_database(mssql_server, "so_small") as name:
        conn = mssql_server.connect(name)
        try:
            counts = sqlserver.generate(conn, scale=SCALE, seed=SEED)
        finally:
            conn.close()
        assert counts["Votes"] > 4_000
        yield name


@pytest.fixture(scope="module")
def real_dump(mssql_server: MssqlServer) -> Iterator[str]:
    """A scratch database holding a real Stack Exchange dump (iota), loaded by the project's T-SQL loader."""
    require_stackexchange_dir()
    with scratch_database(mssql_server, "so_dump") as name:
        conn = mssql_server.connect(name)
        try:
            report = sqlserver.load_dump(conn, STACKEXCHANGE_DIR / DUMP)
        finally:
            conn.close()
        assert {name: report.rows[name] for name in IOTA_ROWS} == IOTA_ROWS
        yield name


def source_counts(conn: Any, tables: list[str]) -> dict[str, int]:
    return {t: query(conn, f"SELECT COUNT_BIG(*) FROM {qualified(TableName('dbo', t))}")[0][0] for t in tables}


def assert_replicated(run: Any, source: Any, target_url: str, tables: list[str], *, compare_rows: int | None) -> None:
    """The run succeeded and verified every table with checksums; counts, keys and identities are right.

    The first ``compare_rows`` rows of each table (all when None) are also compared value by value:
    pymssql's values against pg8000's, independently of the project's checksums.
    """
    states = task_states(run)
    assert str(run.state) == "success", states
    summary = run.get_task_instance("summarize").xcom_pull(task_ids="summarize")
    verifications = {r["verification"]["table"]: r["verification"] for r in summary["tables"]}
    assert sorted(verifications) == sorted(f"dbo.{t}" for t in tables)
    assert summary["totals"]["all_verified"] is True
    for name, v in verifications.items():
        assert (v["mode"], v["checksum_match"], v["source_rows"]) == ("checksums", True, v["target_rows"]), name
    assert sorted(table_names(target_url)) == sorted(tables)  # no staging table left behind
    counts = source_counts(source, tables)
    for table in tables:
        (target_count,) = pg_rows(target_url, f"SELECT count(*) FROM public.{pg_quote(table)}")[0]
        assert target_count == counts[table], table
        max_id, next_id = identity_state(target_url, table)
        assert next_id > (max_id or 0), table
        assert key_and_identity(target_url, table) == (["Id"], "a"), table
        columns = [c.name for c in TABLES_BY_NAME[table].columns]
        top = f"TOP ({compare_rows}) " if compare_rows else ""
        limit = f" LIMIT {compare_rows}" if compare_rows else ""
        expected = query(
            source,
            f"SELECT {top}{', '.join(quote(c) for c in columns)} FROM {qualified(TableName('dbo', table))} ORDER BY [Id]",
        )
        got = pg_rows(
            target_url,
            f'SELECT {", ".join(pg_quote(c) for c in columns)} FROM public.{pg_quote(table)} ORDER BY "Id"{limit}',
        )
        assert got == expected, table


def conf_for(dag_id: str, tmp_path: Path, *, partition_rows: int, **params: Any) -> dict[str, Any]:
    conf = {"verify": "checksums", **params}
    if dag_id == BULK:
        conf |= {"partition_rows": partition_rows, "staging_url": (tmp_path / "staging").as_uri()}
    return conf


@pytest.mark.parametrize("dag_id", [STREAMING, BULK], ids=["streaming", "bulk"])
def test_dag_copies_a_small_sql_server_stackoverflow_twice(
    airflow_db: str,
    mssql_server: MssqlServer,
    small_stackoverflow: str,
    fresh_database: str,
    dag_id: str,
    tmp_path: Path,
):
    """All nine tables from SQL Server, twice in a row: each run succeeds, checksums match, every row equals pymssql's.

    The bulk DAG runs with partition_rows=1000, so Votes, Comments and Posts are read in key
    ranges planned from SQL Server's statistics (or its exact-quantile fallback).
    """
    source_uri = mssql_server.airflow_uri(small_stackoverflow)
    conn = mssql_server.connect(small_stackoverflow)
    try:
        for _ in range(2):
            run = run_dag(dag_id, source_uri, fresh_database, **conf_for(dag_id, tmp_path, partition_rows=1_000))
            assert_replicated(run, conn, fresh_database, NINE, compare_rows=None)
    finally:
        conn.close()
    if dag_id == BULK:
        loads = [t for t in task_states(run) if t.startswith("copy_partition.load_partition[")]
        assert len(loads) > len(NINE)  # the larger tables were split
        assert [p for p in (tmp_path / "staging").rglob("*") if p.is_file()] == []


PLAN_BASES = ("statistics histogram", "exact quantiles: this server has no sys.dm_db_stats_histogram")


@pytest.mark.parametrize("dag_id", [STREAMING, BULK], ids=["streaming", "bulk"])
def test_real_dump_copies_exactly_twice_in_a_row(
    airflow_db: str,
    mssql_server: MssqlServer,
    real_dump: str,
    fresh_database: str,
    dag_id: str,
    tmp_path: Path,
):
    """A real dump (iota) in SQL Server, copied twice: both runs verified, the second leaves identical tables.

    The bulk DAG plans the key ranges of Votes, Posts and Comments from the server's statistics,
    or, where the server has none (Babelfish), from exact quantiles; its log says which.
    """
    conf = conf_for(dag_id, tmp_path, partition_rows=2_000)
    conn = mssql_server.connect(real_dump)
    try:
        first = run_dag(dag_id, mssql_server.airflow_uri(real_dump), fresh_database, **conf)
        assert_replicated(first, conn, fresh_database, NINE, compare_rows=None)
        hashes = {t: content_hash(fresh_database, t) for t in NINE}
        second = run_dag(dag_id, mssql_server.airflow_uri(real_dump), fresh_database, **conf)
        assert_replicated(second, conn, fresh_database, NINE, compare_rows=None)
    finally:
        conn.close()
    assert {t: content_hash(fresh_database, t) for t in NINE} == hashes
    if dag_id == BULK:  # the plan says what its ranges came from
        planned = second.get_task_instance("plan_partitions").xcom_pull(task_ids="plan_partitions")
        notes = {p["table"]: p["note"] for p in planned if p["count"] > 1}
        assert set(notes) >= {"Votes", "Posts", "Comments"}, notes
        assert all(note in {f"ranges from {basis}" for basis in PLAN_BASES} for note in notes.values()), notes


@pytest.mark.parametrize("dag_id", [STREAMING, BULK], ids=["streaming", "bulk"])
def test_dag_copies_stackoverflow2010_users_and_badges(
    airflow_db: str, mssql_server: MssqlServer, stackoverflow2010: str, fresh_database: str, dag_id: str, tmp_path: Path
):
    """tables=["Users", "Badges"] of the attached StackOverflow2010 (1.4 million rows): verified, real counts."""
    tables = ["Users", "Badges"]
    conf = conf_for(dag_id, tmp_path, partition_rows=250_000, tables=tables)
    run = run_dag(dag_id, mssql_server.airflow_uri(stackoverflow2010), fresh_database, **conf)
    conn = mssql_server.connect(stackoverflow2010)
    try:
        assert_replicated(run, conn, fresh_database, tables, compare_rows=2_000)
    finally:
        conn.close()
    assert {t: pg_rows(fresh_database, f"SELECT count(*) FROM public.{pg_quote(t)}")[0][0] for t in tables} == {
        t: ROW_COUNTS[t] for t in tables
    }
