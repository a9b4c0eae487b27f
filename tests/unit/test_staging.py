"""Staging that only one machine can see is refused under executors that spread a run's tasks."""

from __future__ import annotations

import pytest

from include.replication.airflow.staging import executor_class, refuse_unshared_staging, unshared_staging
from include.replication.settings import SettingsError


@pytest.mark.parametrize(
    ("configured", "task_executor", "expected"),
    [
        ("LocalExecutor", None, "LocalExecutor"),
        ("CeleryExecutor", None, "CeleryExecutor"),
        ("airflow.providers.celery.executors.celery_executor.CeleryExecutor", None, "CeleryExecutor"),
        ("LocalExecutor,KubernetesExecutor", None, "LocalExecutor"),
        ("LocalExecutor,KubernetesExecutor", "KubernetesExecutor", "KubernetesExecutor"),
        ("LocalExecutor, spread:my.pkg.SpreadExecutor", "spread", "SpreadExecutor"),
        ("", None, "LocalExecutor"),
    ],
    ids=["local", "celery", "module-path", "first-is-default", "task-picks-one", "task-picks-alias", "unset"],
)
def test_the_executor_that_runs_the_task(configured, task_executor, expected):
    assert executor_class(configured, task_executor) == expected


@pytest.mark.parametrize(
    "url",
    ["", "/var/staging", "relative/staging", "file:///var/staging", "local:///tmp/s", "memory://staging", "C:\\s"],
    ids=["default", "absolute-path", "relative-path", "file-url", "local-url", "memory", "windows-path"],
)
@pytest.mark.parametrize("executor", ["CeleryExecutor", "KubernetesExecutor", "EdgeExecutor"])
def test_one_machines_staging_is_refused_under_a_distributed_executor(url, executor):
    reason = unshared_staging(url, executor)
    assert reason is not None
    assert executor in reason and "s3://bucket/prefix" in reason and "\n" not in reason


@pytest.mark.parametrize("url", ["s3://bucket/prefix", "s3://aws_default@bucket/p", "gs://b/p", "abfs://c/p"])
def test_object_storage_serves_every_executor(url):
    assert unshared_staging(url, "CeleryExecutor") is None


@pytest.mark.parametrize("url", ["", "/var/staging", "file:///var/staging"])
def test_local_staging_serves_one_machine(url):
    assert unshared_staging(url, "LocalExecutor") is None


def test_the_configured_executor_decides(monkeypatch):
    """Read from Airflow's configuration (here its environment variable), as on a worker."""
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    with pytest.raises(
        SettingsError,
        match=r"the default staging_url \(a folder under \$AIRFLOW_HOME\) is on one machine's disk, but CeleryExecutor",
    ):
        refuse_unshared_staging({"staging_url": ""})
    refuse_unshared_staging({"staging_url": "s3://bucket/staging"})
    refuse_unshared_staging({})  # the streaming DAG stages nothing
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    refuse_unshared_staging({"staging_url": ""})
