"""NUL characters and lone UTF-16 surrogates from a SQL Server-like source, through both DAGs.

SQL Server ``nvarchar`` can hold both; PostgreSQL text can hold neither, and no SQL Server is
reachable here. So the source is a stand-in for pymssql, and only that is not real: the session's
PostgreSQL source read in ``rows`` mode (rows as Python tuples through our encoder, the SQL Server
path), behind a connection wrapper that puts the bad characters into chosen ``Users.DisplayName``
values of the fetched rows, as pymssql would hand them over. The encoder, COPY, the checksum
verification against the (clean) source and the target are all real. ``tests/mssql/`` repeats the
cases against a real SQL Server when one is configured.
"""

from __future__ import annotations

from typing import Any

import pytest

from include.replication.airflow import bulk_tasks as tasks_bulk
from include.replication.airflow import tasks
from include.replication.airflow.connections import open_source
from include.replication.settings import ReadMode
from include.stackoverflow.database import connect
from include.stackoverflow.generate import generate
from tests.integration.replication_helpers import assert_exact_copy, run_dag, table_names, task_states

STREAMING = "replicate_stackoverflow_to_postgres_parallel"
BULK = "replicate_stackoverflow_to_postgres_bulk_parallel"
COPY_TASK = {STREAMING: "users.replicate_Users", BULK: "copy_partition.extract_partition[0]"}


class InjectingConnection:
    """A source connection whose FETCHed Users rows carry ``bad(name)`` in DisplayName for ``ids``."""

    def __init__(self, conn: Any, ids: set[int], bad) -> None:
        self._conn, self._ids, self._bad = conn, ids, bad
        self._column: int | None = None

    def run(self, sql: str, **params: Any) -> Any:
        if sql.startswith("DECLARE replication_rows") and '"Users"' in sql:
            select = sql.split(" FOR SELECT ", 1)[1].split(" FROM ", 1)[0]
            self._column = [c.strip() for c in select.split(",")].index('"DisplayName"')
        rows = self._conn.run(sql, **params)
        if sql.startswith("FETCH") and self._column is not None:
            for row in rows:
                if row[0] in self._ids:
                    row[self._column] = self._bad(row[self._column])
        if sql == "ROLLBACK":
            self._column = None
        return rows

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


@pytest.fixture
def stand_in(monkeypatch, fresh_database):
    """Patch both DAGs' source opening; returns the Users ids that get bad text and sets how."""
    generate(fresh_database, scale=0.001, seed=3)
    conn = connect(fresh_database)
    ids = {row[0] for row in conn.run('SELECT "Id" FROM "Users" WHERE "DisplayName" <> \'\' ORDER BY "Id" LIMIT 3')}
    conn.close()
    how = {}

    def injecting_open_source(conn_id: str, *, read_mode: ReadMode = ReadMode.COPY, target_engine: str = "postgres"):
        source = open_source(conn_id, read_mode=ReadMode.ROWS)
        source.conn = InjectingConnection(source.conn, ids, how["bad"])
        return source

    monkeypatch.setattr(tasks, "open_source", injecting_open_source)
    monkeypatch.setattr(tasks_bulk, "open_source", injecting_open_source)
    return ids, how


def _conf(dag_id: str, tmp_path, **extra) -> dict[str, Any]:
    conf = {"tables": ["Users"], "verify": "checksums", "source_read_mode": "rows", **extra}
    if dag_id == BULK:
        conf |= {"partition_rows": 1_000_000, "staging_url": (tmp_path / "staging").as_uri()}
    return conf


@pytest.mark.parametrize("dag_id", [STREAMING, BULK], ids=["streaming", "bulk"])
def test_nul_stripped_counted_and_verified(airflow_db, stand_in, fresh_database, target_database, dag_id, tmp_path):
    """nul_policy=strip: each NUL is removed and counted for Users.DisplayName; the copy verifies."""
    ids, how = stand_in
    how["bad"] = lambda name: "\x00" + name[:1] + "\x00" + name[1:]  # two NULs per value
    run = run_dag(dag_id, fresh_database, target_database, **_conf(dag_id, tmp_path, nul_policy="strip"))
    assert str(run.state) == "success", task_states(run)
    assert_exact_copy(fresh_database, target_database, tables=["Users"])
    summary = run.get_task_instance("summarize").xcom_pull(task_ids="summarize")
    users = next(t["stats"] for t in summary["tables"] if t["stats"]["table"].endswith("Users"))
    assert users["nul_stripped"] == {"DisplayName": 2 * len(ids)}


@pytest.mark.parametrize("dag_id", [STREAMING, BULK], ids=["streaming", "bulk"])
@pytest.mark.parametrize(
    ("policy", "bad", "message"),
    [
        ("fail", lambda name: name + "\x00", r"public\.Users\.DisplayName: NUL character \(U\+0000\) at Id={id}"),
        ("strip", lambda name: name + "\ud800", r"public\.Users\.DisplayName: text is not valid Unicode .* at Id={id}"),
    ],
    ids=["nul-fail", "lone-surrogate"],
)
def test_bad_text_fails_naming_table_column_and_key(
    airflow_db, stand_in, fresh_database, target_database, dag_id, policy, bad, message, tmp_path, capfd
):
    """nul_policy=fail with a NUL, or a lone surrogate under any policy: the task fails naming the row; no table."""
    import re

    ids, how = stand_in
    how["bad"] = bad
    run = run_dag(dag_id, fresh_database, target_database, **_conf(dag_id, tmp_path, nul_policy=policy))
    assert task_states(run)[COPY_TASK[dag_id]] == "failed"
    assert re.search(message.format(id=min(ids)), "".join(capfd.readouterr())), "the task log names table, column, key"
    assert "Users" not in table_names(target_database)
