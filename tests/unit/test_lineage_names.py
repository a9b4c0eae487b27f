"""Lineage names: the asset URIs a table task reports become the OpenLineage datasets the spec names.

Connections come from ``AIRFLOW_CONN_*`` variables and the URIs go through the installed providers'
own converters (postgres, mssql), as the OpenLineage listener does with what a task reported.
"""

from __future__ import annotations

import logging

import pytest

from include.replication.airflow.lineage import report_lineage, source_and_target_uris, table_uri
from include.replication.models import SourceColumn, SourceTable, TableName
from include.replication.plan import ReplicationPlan
from include.replication.settings import ReplicationSettings
from tests.conftest import PROJECT_DIR

POSTS = SourceTable("dbo", "Posts", (SourceColumn("Id", "int", False),), ("Id",))


def plan(source_engine: str, target_engine: str, table: SourceTable = POSTS, **settings) -> ReplicationPlan:
    return ReplicationPlan(
        settings=ReplicationSettings(source_conn_id="so_source", target_conn_id="so_target", **settings),
        source_engine=source_engine,
        source_schema=table.schema,
        tables={table.name: table},
        columns={table.name: ()},
        levels={table.name: 2},
        target_engine=target_engine,
    )


def openlineage_dataset(uri: str) -> tuple[str, str]:
    """(namespace, name) of the OpenLineage dataset the providers make of an asset URI."""
    from airflow.providers.openlineage.utils.utils import translate_airflow_asset
    from airflow.sdk import Asset

    dataset = translate_airflow_asset(Asset(uri=uri), None)
    assert dataset is not None, f"no OpenLineage converter took {uri}"
    return dataset.namespace, dataset.name


@pytest.fixture
def connections(monkeypatch):
    """Point the plan's connection ids at URLs (as a deployment's environment would)."""

    def define(source: str, target: str) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_SO_SOURCE", source)
        monkeypatch.setenv("AIRFLOW_CONN_SO_TARGET", target)

    return define


@pytest.mark.parametrize(
    ("source", "target", "engines", "expected"),
    [
        pytest.param(
            "mssql://sa:pw@sql.example.com:1433/StackOverflow2010",
            "postgresql://u:pw@pg.example.com:5432/replica",
            ("mssql", "postgres"),
            [("mssql://sql.example.com:1433", "StackOverflow2010.dbo.Posts"),
             ("postgres://pg.example.com:5432", "replica.public.Posts")],
            id="sqlserver-to-postgres",
        ),
        pytest.param(
            "mssql://sa:pw@prod.example.com/StackOverflow2010",
            "mssql://sa:pw@reporting.example.com:14330/Reporting",
            ("mssql", "mssql"),
            [("mssql://prod.example.com:1433", "StackOverflow2010.dbo.Posts"),
             ("mssql://reporting.example.com:14330", "Reporting.public.Posts")],
            id="sqlserver-to-sqlserver-default-port",
        ),
        pytest.param(
            "postgresql://u:pw@10.0.0.5/stackoverflow",
            "postgres://u:pw@10.0.0.6:6543/replica",
            ("postgres", "postgres"),
            [("postgres://10.0.0.5:5432", "stackoverflow.dbo.Posts"),
             ("postgres://10.0.0.6:6543", "replica.public.Posts")],
            id="postgres-to-postgres-default-port",
        ),
    ],
)  # fmt: skip
def test_source_and_target_become_the_specs_datasets(connections, source, target, engines, expected):
    """Namespace ``engine://host:port`` (the engine's default port when the connection has none), name ``database.schema.table``."""
    connections(source, target)
    uris = source_and_target_uris(plan(*engines), "Posts")
    assert [openlineage_dataset(uri) for uri in uris] == expected


def test_a_connection_without_host_or_port_is_named_as_the_driver_connects():
    from airflow.sdk import Connection

    conn = Connection(conn_id="c", conn_type="postgres", schema="replica")
    assert table_uri(conn, "postgres", TableName("public", "Posts")) == "postgres://localhost:5432/replica/public/Posts"


def test_target_schema_param_names_the_output(connections):
    connections("mssql://sa:pw@sql:1433/so", "postgresql://u:pw@pg:5432/replica")
    _, target = source_and_target_uris(plan("mssql", "postgres", target_schema="stackoverflow"), "Posts")
    assert openlineage_dataset(target) == ("postgres://pg:5432", "replica.stackoverflow.Posts")


def test_the_target_asset_uri_is_the_lineage_output(connections):
    """One name per table: the Asset the DAGs emit for a table and its lineage output are the same URI."""
    from airflow.sdk import BaseHook

    connections("mssql://sa:pw@sql:1433/so", "postgresql://u:pw@pg:5432/replica")
    run = plan("mssql", "postgres")
    asset_uri = table_uri(BaseHook.get_connection("so_target"), "postgres", TableName("public", "Posts"))
    assert source_and_target_uris(run, "Posts")[1] == asset_uri == "postgres://pg:5432/replica/public/Posts"


def test_unusual_names_are_encoded_for_assets_and_literal_for_lineage(connections):
    """Asset URIs encode every reserved character; lineage keeps names as they are but for ``% / ? #``."""
    from airflow.sdk import Connection

    conn = Connection(conn_id="c", conn_type="postgres", host="pg", port=5432, schema="my db")
    table = TableName("sales/eu", "Post History")
    assert table_uri(conn, "postgres", table) == "postgres://pg:5432/my%20db/sales%2Feu/Post%20History"
    assert table_uri(conn, "postgres", table, literal_names=True) == "postgres://pg:5432/my db/sales%2Feu/Post History"

    connections("mssql://sa:pw@sql:1433/Stack%20Overflow", "postgresql://u:pw@pg:5432/replica")
    history = SourceTable("dbo", "Post History", (SourceColumn("Id", "int", False),), ("Id",))
    uris = source_and_target_uris(plan("mssql", "postgres", history), "Post History")
    assert [openlineage_dataset(uri) for uri in uris] == [
        ("mssql://sql:1433", "Stack Overflow.dbo.Post History"),
        ("postgres://pg:5432", "replica.public.Post History"),
    ]


def test_a_lineage_failure_never_fails_the_copy(monkeypatch, caplog):
    """An undefined connection (say) costs the lineage, not the copy: report_lineage logs and returns."""
    monkeypatch.delenv("AIRFLOW_CONN_SO_SOURCE", raising=False)
    with caplog.at_level(logging.WARNING, logger="include.replication.airflow.lineage"):
        report_lineage(plan("mssql", "postgres"), "Posts")
    assert "Posts: lineage not reported" in caplog.text


def test_nothing_imports_the_openlineage_provider():
    """Where the provider is not installed nothing fails to import: only Airflow's own collector is used."""
    for path in [*(PROJECT_DIR / "include").rglob("*.py"), *(PROJECT_DIR / "dags").glob("*.py")]:
        assert "airflow.providers.openlineage" not in path.read_text(), path


def test_without_a_lineage_reader_nothing_is_collected(connections):
    """OpenLineage off (no transport configured, as in this session): Airflow's collector is a no-op."""
    from airflow.providers.openlineage.conf import is_disabled
    from airflow.sdk.lineage import NoOpCollector, get_hook_lineage_collector

    if not is_disabled():
        pytest.skip("OpenLineage is configured in this environment (a transport is set)")

    connections("mssql://sa:pw@sql:1433/so", "postgresql://u:pw@pg:5432/replica")
    report_lineage(plan("mssql", "postgres"), "Posts")
    collector = get_hook_lineage_collector()
    assert isinstance(collector, NoOpCollector)
    assert not collector.collected_assets.inputs
