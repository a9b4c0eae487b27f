"""The target PostgreSQL restarts in the middle of a load, for both DAGs.

The target lives on its own throwaway server (the session's server also holds Airflow's metadata
and the source, which must stay up). A watcher restarts it the moment a COPY into the target is
running; the fast shutdown aborts that transaction. The task fails, a retry completes once the
server is back, the copy verifies, and nothing is left behind: no staging tables, no staged files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from include.stackoverflow.generate import generate
from localdev import postgres
from tests.integration.replication_helpers import QueryWatcher, assert_exact_copy, run_dag, task_attempts

STREAMING = "replicate_stackoverflow_to_postgres_parallel"
BULK = "replicate_stackoverflow_to_postgres_bulk_parallel"


@pytest.fixture
def restartable_target() -> Iterator[tuple[str, str]]:
    """(server name, target database URL) on a server of its own."""
    name = f"pytest-{os.getpid()}-target"
    server = postgres.start(name)
    try:
        yield name, postgres.create_database(server, "restart_target")
    finally:
        postgres.stop(name)
        postgres.remove(name)


@pytest.mark.parametrize(
    ("dag_id", "task_id"),
    [(STREAMING, "posts_and_badges.replicate_Posts"), (BULK, "copy_partition.load_partition[0]")],
    ids=["streaming", "bulk"],
)
def test_target_restart_mid_load(airflow_db, fresh_database, restartable_target, dag_id, task_id, tmp_path):
    """Restart during the Posts COPY: the task's retry completes after the restart and Posts is exact."""
    name, target_url = restartable_target
    generate(fresh_database, scale=0.01, seed=21)
    staging_dir = tmp_path / "staging"
    conf = {"tables": ["Posts"], "verify": "checksums"}
    if dag_id == BULK:
        conf |= {"partition_rows": 1_000_000, "staging_url": staging_dir.as_uri()}
    restarter = QueryWatcher(
        target_url,
        "restart_target",
        'COPY "public"."Posts__%staging"%FROM STDIN%',  # either DAG's staging table
        act=lambda conn, pid: postgres.restart(name),
    )
    restarter.start()
    try:
        run = run_dag(dag_id, fresh_database, target_url, retries=3, **conf)
    finally:
        restarter.stop.set()
        restarter.join(30)
    assert restarter.error is None, restarter.error
    assert restarter.caught, "no COPY into the target was caught running: nothing was tested"
    attempts = task_attempts(run)
    assert str(run.state) == "success", attempts
    state, tries = attempts[task_id]
    assert state == "success" and tries >= 2, attempts
    assert_exact_copy(fresh_database, target_url, tables=["Posts"])
    if dag_id == BULK:
        assert [p for p in staging_dir.rglob("*") if p.is_file()] == []
