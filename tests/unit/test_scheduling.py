"""Which table starts first when slots are scarce: the streaming DAGs' weights, the bulk DAG's mapping order."""

from __future__ import annotations

from include.replication.levels import LOAD_PRIORITY, OTHER_TABLES_PRIORITY, STATIC_TABLES
from include.replication.models import SourceColumn, SourceTable
from include.replication.plan import ReplicationPlan
from include.replication.settings import ReplicationSettings
from include.stackoverflow.schema import ROW_COUNTS


def test_every_known_table_has_a_weight_largest_first():
    """Weights follow the tables' measured copy times at scale 1 (docs/bench/results-scale-1.csv)."""
    assert set(LOAD_PRIORITY) == {name for level in STATIC_TABLES for name in level}
    order = ["Posts", "Votes", "Comments", "Badges", "Users", "PostLinks", "VoteTypes"]
    assert [LOAD_PRIORITY[name] for name in order] == sorted((LOAD_PRIORITY[n] for n in order), reverse=True)
    assert LOAD_PRIORITY["Votes"] < OTHER_TABLES_PRIORITY < LOAD_PRIORITY["Posts"]


def test_bulk_maps_tables_largest_first():
    """Mapped instances share a weight and start in map-index order: the streaming DAG's order, extras by rows."""
    from include.replication.airflow.bulk_tasks import largest_first

    column = (SourceColumn("Id", "int", False),)
    counts = {**ROW_COUNTS, "PostHistory": 10_000_000, "Tiny": 5}
    tables = {name: SourceTable("dbo", name, column, ("Id",), approx_rows=rows) for name, rows in counts.items()}
    plan = ReplicationPlan(ReplicationSettings(), "mssql", "dbo", tables, {}, {})
    order = largest_first(plan)
    assert order[:5] == ["Posts", "PostHistory", "Tiny", "Votes", "Comments"]  # extras rank as the streaming DAG's
    assert order[-3:] == sorted(["VoteTypes", "PostTypes", "LinkTypes"], key=lambda name: -ROW_COUNTS[name])
