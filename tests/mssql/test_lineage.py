"""Lineage from and to SQL Server: table tasks name ``mssql://host:port`` ``database.dbo.<table>``.

Runs only with a real TDS server (``REPLICATION_TEST_MSSQL_URL``, see README.md here); skipped
otherwise. As in ``tests/integration/test_lineage.py``: ``dag.test()`` in a child process with the
OpenLineage ``file`` transport, one table per run, the COMPLETE event read back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.lineage_helpers import dataset_of, datasets, read_events, run_with_openlineage, task_event
from tests.mssql.mssql_helpers import MssqlServer, generated_stackoverflow, scratch_database

STREAMING = "replicate_stackoverflow_to_postgres_parallel"
TO_TARGET = "replicate_stackoverflow_to_target"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def source_db(mssql_server: MssqlServer) -> Iterator[str]:
    """A small generated StackOverflow in a scratch database."""
    with generated_stackoverflow(mssql_server, "so_lineage", scale=0.0005, seed=12) as name:
        yield name


def test_sql_server_source_to_postgres(
    airflow_db, mssql_server: MssqlServer, source_db, fresh_database, tmp_path: Path
):
    """``mssql://host:port`` ``<source database>.dbo.Users`` → ``postgres://host:port`` ``<target>.public.Users``."""
    source = mssql_server.airflow_uri(source_db)
    run = run_with_openlineage(STREAMING, source, fresh_database, tmp_path, tables=["Users"])
    assert run["state"] == "success", run["tasks"]

    complete = task_event(read_events(tmp_path), "replicate_Users", "COMPLETE")
    assert datasets(complete, "inputs") == [
        (f"mssql://{mssql_server.host}:{mssql_server.port}", f"{source_db}.dbo.Users")
    ]
    assert datasets(complete, "outputs") == [dataset_of(fresh_database, "public", "Users")]


def test_sql_server_to_sql_server(airflow_db, mssql_server: MssqlServer, source_db, fresh_database, tmp_path: Path):
    """Both sides SQL Server (``replicate_stackoverflow_to_target``): input and output both ``mssql://``."""
    namespace = f"mssql://{mssql_server.host}:{mssql_server.port}"
    with scratch_database(mssql_server, "so_lineage_target") as target_db:
        target = {"AIRFLOW_CONN_STACKOVERFLOW_TARGET": mssql_server.airflow_uri(target_db)}
        run = run_with_openlineage(TO_TARGET, mssql_server.airflow_uri(source_db), fresh_database, tmp_path,
                                   extra_env=target, tables=["Users"])  # fmt: skip
    assert run["state"] == "success", run["tasks"]

    complete = task_event(read_events(tmp_path), "replicate_Users", "COMPLETE")
    assert datasets(complete, "inputs") == [(namespace, f"{source_db}.dbo.Users")]
    assert datasets(complete, "outputs") == [(namespace, f"{target_db}.dbo.Users")]
