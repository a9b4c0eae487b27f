"""Under a distributed executor, staging on one machine's disk fails the bulk DAG's first task, once."""

from __future__ import annotations

import pytest

from tests.integration.replication_helpers import run_dag, table_names, task_attempts

BULK = "replicate_stackoverflow_to_postgres_bulk_parallel"


@pytest.mark.parametrize("staging_url", ["", "file:///var/tmp/staging"], ids=["default-folder", "file-url"])
def test_local_staging_under_celery_fails_discovery_without_retries(
    airflow_db, fresh_database, target_database, capfd, monkeypatch, staging_url
):
    """The executor comes from Airflow's configuration, as on a Celery worker; nothing is read or created."""
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    run = run_dag(BULK, fresh_database, target_database, retries=2, staging_url=staging_url)
    attempts = task_attempts(run)
    assert attempts["discover_tables"] == ("failed", 1), attempts
    log = "".join(capfd.readouterr())
    assert "is on one machine's disk, but CeleryExecutor may extract a partition on one worker" in log
    assert "set staging_url to storage every worker reaches, e.g. s3://bucket/prefix" in log
    assert table_names(target_database) == []
