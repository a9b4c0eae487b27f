"""Limits against a stuck run: every task has an execution_timeout, table tasks one scaled to their rows."""

from __future__ import annotations

from datetime import timedelta

from include.replication.airflow import limits
from include.stackoverflow.generate import generate
from tests.integration.replication_helpers import run_dag, task_states

DAG_ID = "replicate_stackoverflow_to_postgres_parallel"


def test_a_table_task_past_its_scaled_timeout_fails(airflow_db, fresh_database, target_database, monkeypatch):
    """With a budget of 10 µs per row (3 ms for Users) the table task is stopped by Airflow's own timeout; planning is not."""
    generate(fresh_database, scale=0.001, seed=3)
    monkeypatch.setattr(limits, "BASE_BUDGET", timedelta(0))
    monkeypatch.setattr(limits, "FLOOR_ROWS_PER_SECOND", 1e5)  # 299 rows: 3 ms
    run = run_dag(DAG_ID, fresh_database, target_database, tables=["Users"], verify="counts")
    states = task_states(run)
    assert states["discover_tables"] == "success", states
    assert states["users.replicate_Users"] == "failed", states
