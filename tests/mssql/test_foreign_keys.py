"""Foreign keys on a SQL Server target: WITH NOCHECK, then WITH CHECK CHECK; dangling rows counted, never fatal.

Runs only with a real TDS server (``REPLICATION_TEST_MSSQL_URL``, see README.md here); skipped otherwise.

SQL Server keeps a key its rows violate as untrusted (``is_not_trusted = 1``), enforced for new
rows. Babelfish refuses ``WITH NOCHECK`` ("not currently supported"): the target finds that out on
its first key and adds each key checked instead, so a violated key is reported as not created. The
tests ask the server which it does (``nocheck_refused``) and expect the matching outcome.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from include.replication import foreign_keys
from include.replication.foreign_keys import STACKOVERFLOW_REFERENCES, Origin, Reference, Status
from include.replication.models import TableName
from include.replication.mssql.target import SqlServerTarget
from tests.integration.replication_helpers import run_dag, task_states
from tests.mssql.mssql_helpers import MssqlServer, execute, generated_stackoverflow, query, scratch_database

TO_TARGET = "replicate_stackoverflow_to_target"


@pytest.fixture
def scratch(mssql_server: MssqlServer) -> Iterator[Any]:
    """A connection to an empty scratch database: Parents (1, 2, 3), Children referencing 1, 3, NULL and 7, 9 (missing)."""
    with scratch_database(mssql_server, "fk") as name:
        conn = mssql_server.connect(name)
        try:
            execute(conn, "CREATE TABLE dbo.Parents (Id int NOT NULL PRIMARY KEY)")
            execute(
                conn, "CREATE TABLE dbo.Children (Id int NOT NULL PRIMARY KEY, ParentId int NULL, Kind int NOT NULL)"
            )
            execute(conn, "INSERT INTO dbo.Parents VALUES (1), (2), (3)")
            execute(
                conn, "INSERT INTO dbo.Children VALUES (10, 1, 1), (11, 7, 2), (12, NULL, 3), (13, 3, 1), (14, 9, 2)"
            )
            yield conn
        finally:
            conn.close()


def nocheck_refused(conn: Any) -> bool:
    """Whether the server refuses ALTER TABLE ... WITH NOCHECK ADD CONSTRAINT (Babelfish does)."""
    execute(conn, "CREATE TABLE dbo.Probe (Id int NOT NULL PRIMARY KEY, Ref int NULL)")
    try:
        execute(
            conn,
            "ALTER TABLE dbo.Probe WITH NOCHECK ADD CONSTRAINT FK_Probe FOREIGN KEY (Ref) REFERENCES dbo.Probe (Id)",
        )
        return False
    except Exception as exc:
        if "not currently supported" not in str(exc):
            raise
        return True
    finally:
        execute(conn, "DROP TABLE dbo.Probe")


def keys_on(conn: Any) -> dict[str, bool]:
    """``{name (case-folded): trusted}`` of every foreign key in the database."""
    return {
        name.casefold(): not untrusted
        for name, untrusted in query(conn, "SELECT name, is_not_trusted FROM sys.foreign_keys")
    }


PARENT = Reference(
    TableName("dbo", "Children"), "FK_Children_ParentId", ("ParentId",), TableName("dbo", "Parents"), ("Id",)
)
KIND = Reference(TableName("dbo", "Children"), "FK_Children_Kind", ("Kind",), TableName("dbo", "Parents"), ("Id",))


def test_dangling_rows_counted_and_sampled_clean_key_trusted(scratch):
    """ParentId: 2 rows (Id 11, 14) reference no parent -> untrusted (SQL Server) or not created (Babelfish), counted
    with samples; Kind: every value a parent -> trusted."""
    refused = nocheck_refused(scratch)
    target = SqlServerTarget(scratch)
    report = foreign_keys.settle_foreign_keys(
        target, mode="source", schema="dbo", released=[], wanted=[(PARENT, Origin.SOURCE), (KIND, Origin.SOURCE)],
        keys=lambda table: ("Id",),
    )  # fmt: skip
    parent, kind = report.outcomes
    assert (parent.dangling_rows, parent.samples) == (2, ("Children.Id 11 (ParentId 7)", "Children.Id 14 (ParentId 9)"))
    assert kind.status == Status.VALIDATED and kind.dangling_rows == 0
    on_server = keys_on(scratch)
    assert on_server["fk_children_kind"] is True
    if refused:
        assert parent.status == Status.NOT_CREATED and "fk_children_parentid" not in on_server
        assert "cannot keep" in parent.note
    else:
        assert parent.status == Status.NOT_VALID and on_server["fk_children_parentid"] is False


def test_release_lets_a_referenced_table_be_replaced(scratch):
    """A key to Parents blocks DROP TABLE Parents; released, the table is replaced; settled, the key is back."""
    target = SqlServerTarget(scratch)
    foreign_keys.settle_foreign_keys(target, mode="source", schema="dbo", released=[], wanted=[(KIND, Origin.SOURCE)],
                                     keys=lambda table: ("Id",))  # fmt: skip
    with pytest.raises(Exception, match="(?i)referenced|depend"):
        execute(scratch, "DROP TABLE dbo.Parents")
    released = foreign_keys.release_foreign_keys(target, schema="dbo", tables=[TableName("dbo", "Parents")])
    assert [r.name.casefold() for r in released] == ["fk_children_kind"]
    assert keys_on(scratch) == {}
    execute(scratch, "DROP TABLE dbo.Parents")
    execute(scratch, "CREATE TABLE dbo.Parents (Id int NOT NULL PRIMARY KEY)")
    execute(scratch, "INSERT INTO dbo.Parents VALUES (1), (2), (3)")
    report = foreign_keys.settle_foreign_keys(target, mode="off", schema="dbo", released=released, wanted=[],
                                              keys=lambda table: ("Id",))  # fmt: skip
    assert [(o.origin, o.status) for o in report.outcomes] == [(Origin.RESTORED, Status.VALIDATED)]
    assert keys_on(scratch) == {"fk_children_kind": True}


@pytest.fixture(scope="module")
def small_source(mssql_server: MssqlServer) -> Iterator[str]:
    with generated_stackoverflow(mssql_server, "fk_source", scale=0.0005, seed=11) as name:
        yield name


def copy(mssql_server: MssqlServer, source: str, target: str, fresh_database: str, **conf: Any) -> Any:
    os.environ["AIRFLOW_CONN_STACKOVERFLOW_TARGET"] = mssql_server.airflow_uri(target)
    try:
        return run_dag(TO_TARGET, mssql_server.airflow_uri(source), fresh_database, verify="counts", **conf)
    finally:
        del os.environ["AIRFLOW_CONN_STACKOVERFLOW_TARGET"]


@pytest.mark.slow
def test_to_target_dag_creates_keys_and_reruns_with_them(airflow_db, mssql_server, small_source, fresh_database):
    """replicate_stackoverflow_to_target: off creates none; stackoverflow creates them after the loads, and a
    second run replaces every table with the keys present (dropped for the swaps, put back)."""
    with scratch_database(mssql_server, "fk_target") as target:
        off = copy(mssql_server, small_source, target, fresh_database)
        assert str(off.state) == "success", task_states(off)
        conn = mssql_server.connect(target)
        try:
            assert keys_on(conn) == {}
            refused = nocheck_refused(conn)
        finally:
            conn.close()
        first = copy(mssql_server, small_source, target, fresh_database, foreign_keys="stackoverflow")
        assert str(first.state) == "success", task_states(first)
        outcomes = {o["reference"]["name"]: o for o in first.get_task_instance("summarize")
                    .xcom_pull(task_ids="summarize")["foreign_keys"]["outcomes"]}  # fmt: skip
        assert set(outcomes) == {f"FK_{t}_{c}" for t, c, _ in STACKOVERFLOW_REFERENCES}
        assert outcomes["FK_Posts_PostTypeId"]["status"] == "validated"
        dangling = {name for name, o in outcomes.items() if o["dangling_rows"]}
        assert "FK_Votes_PostId" in dangling
        assert {outcomes[n]["status"] for n in dangling} == {"not created" if refused else "not valid"}
        conn = mssql_server.connect(target)
        try:
            before = keys_on(conn)
        finally:
            conn.close()
        expected = {n.casefold() for n in outcomes if n not in dangling or not refused}
        assert set(before) == expected
        second = copy(mssql_server, small_source, target, fresh_database, foreign_keys="stackoverflow")
        assert str(second.state) == "success", task_states(second)
        conn = mssql_server.connect(target)
        try:
            assert keys_on(conn) == before
        finally:
            conn.close()
