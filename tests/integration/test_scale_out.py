"""Scale-out with real parts: the bulk DAG on CeleryExecutor, two workers sharing no folder, S3 staging.

``localdev.scale_out`` starts Debian's ``redis-server`` (the broker), moto's S3 server, Airflow's
scheduler, api-server and DAG processor, and two ``airflow celery worker`` processes, each in its
own folder with its own Airflow home and copy of the DAGs and code. The bulk DAG is triggered over
REST with ``staging_url=s3://...``; the copy is then checked here, table by table, against the source.

Without ``redis-server`` the test skips, saying how to install it, except in CI (``CI`` set), where
``.ci/run`` installs it and a skip would hide a missing step.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from pg8000.native import identifier

from include.stackoverflow.database import connect
from include.stackoverflow.generate import generate
from localdev import airflow as local_airflow
from localdev import scale_out
from tests.conftest import database_url, dev_package
from tests.integration.replication_helpers import assert_exact_copy

SCALE = 0.01  # 193,132 rows at seed 42: ~13 partitions of 20,000 rows
PARTITION_ROWS = 20_000


@pytest.fixture
def databases(pg_server_url: str) -> Iterator[dict[str, str]]:
    """Source (generated at scale 0.01), empty target and Airflow metadata: three new databases."""
    require_redis_server()  # before a source is generated for nothing
    dev_package("moto")
    names = {role: f"scale_out_{role}_{secrets.token_hex(3)}" for role in ("source", "target", "meta")}
    _admin(pg_server_url, [f"CREATE DATABASE {identifier(name)}" for name in names.values()])
    try:
        urls = {role: database_url(pg_server_url, name) for role, name in names.items()}
        generate(urls["source"], scale=SCALE, seed=42)
        yield urls
    finally:
        _admin(pg_server_url, [f"DROP DATABASE IF EXISTS {identifier(n)} WITH (FORCE)" for n in names.values()])


def _admin(url: str, statements: list[str]) -> None:
    conn = connect(url)
    try:
        for statement in statements:
            conn.run(statement)
    finally:
        conn.close()


def require_redis_server() -> None:
    if scale_out.redis_server():
        return
    message = "redis-server is not installed (apt-get install redis-server): the Celery broker of this test"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; .ci/run installs it, so CI must not skip", pytrace=False)
    pytest.skip(message)


@pytest.mark.slow
def test_bulk_dag_on_two_celery_workers_with_s3_staging(databases: dict[str, str], tmp_path) -> None:
    """Both workers run tasks, partitions travel through S3 only, every table equals the source."""
    with scale_out.running(
        tmp_path, source_url=databases["source"], target_url=databases["target"], metadata_url=databases["meta"]
    ) as cluster:
        run = scale_out.run_bulk_dag(cluster, partition_rows=PARTITION_ROWS)
        api_url = cluster.airflow.api_url
        states = local_airflow.task_states(api_url, scale_out.BULK_DAG_ID, run.run_id)
        ran = scale_out.tasks_by_worker(cluster, scale_out.BULK_DAG_ID, run.run_id)
        writes, left = scale_out.staged_writes(cluster), scale_out.staged_objects(cluster)
        scheduler_logs = list((cluster.airflow.home / "logs").rglob("attempt=*.log"))

    assert run.state == "success", f"{states}; logs under {tmp_path}"
    assert {task: state for task, state in states.items() if state != "success"} == {}
    # every task instance ran on one of the two workers, each worker ran some, none ran on the scheduler
    assert sorted(task for tries in ran.values() for task in tries) == sorted(states), ran
    assert all(ran.values()), {name: len(tries) for name, tries in ran.items()}
    assert scheduler_logs == []
    partitions = [task for task in states if ".extract_partition[" in task]
    assert len(partitions) > len(scale_out.WORKERS)
    assert writes == len(partitions) and left == []  # one object per partition, removed once verified
    assert_exact_copy(databases["source"], databases["target"])
    print(
        f"\nbulk DAG on CeleryExecutor: {run.state} in {run.seconds:.1f} s; {len(partitions)} partitions via S3; "
        + "; ".join(f"{name} ran {len(tries)} tasks" for name, tries in ran.items())
        + f"; {len(scale_out.crossed_partitions(ran))} partitions extracted on one worker and loaded on the other"
    )
