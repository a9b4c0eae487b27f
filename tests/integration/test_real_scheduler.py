"""The real-scheduler path: Airflow started the way ``make airflow`` starts it, DAGs triggered over REST.

Unlike ``dags test``, the scheduler hands each task to LocalExecutor, which forks a worker that runs
the task in its own process and reports through the Execution API - the path users take when they
press Trigger in the UI. One Airflow serves the whole module; its metadata database, source and
target live on the test session's PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pg8000.native import identifier

from include.replication.airflow.params import RETRY_DELAY_ENV
from include.stackoverflow.database import connect
from include.stackoverflow.generate import generate
from include.stackoverflow.schema import TABLES
from localdev import airflow as local_airflow
from tests.conftest import database_url
from tests.integration.replication_helpers import assert_exact_copy, content_hash

STREAMING_DAG_ID = "replicate_stackoverflow_to_postgres_parallel"
NINE = [t.name for t in TABLES]
RUN_TIMEOUT_S = 300


@dataclass(frozen=True)
class RealScheduler:
    airflow: local_airflow.LocalAirflow
    source_url: str
    target_url: str


@pytest.fixture(scope="module")
def real_scheduler(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealScheduler]:
    """Airflow (API server, scheduler, DAG processor) over a generated source, an empty target, own metadata DB."""
    suffix = secrets.token_hex(3)
    databases = {role: f"real_scheduler_{role}_{suffix}" for role in ("source", "target", "meta")}
    _run_admin(pg_server_url, [f"CREATE DATABASE {identifier(name)}" for name in databases.values()])
    urls = {role: database_url(pg_server_url, name) for role, name in databases.items()}
    home = tmp_path_factory.mktemp("airflow-home")
    try:
        generate(urls["source"], scale=0.002, seed=7)
        with pytest.MonkeyPatch.context() as patch:
            # the components inherit it: a killed task's retry comes after seconds, not 30 s
            patch.setenv(RETRY_DELAY_ENV, "2")
            started = local_airflow.start(
                home=home, source_url=urls["source"], target_url=urls["target"], metadata_url=urls["meta"]
            )
        yield RealScheduler(airflow=started, source_url=urls["source"], target_url=urls["target"])
    finally:
        local_airflow.stop(home)
        _run_admin(pg_server_url, [f"DROP DATABASE IF EXISTS {identifier(n)} WITH (FORCE)" for n in databases.values()])


def _run_admin(url: str, statements: list[str]) -> None:
    conn = connect(url)
    try:
        for statement in statements:
            conn.run(statement)
    finally:
        conn.close()


def _dag_param(dag_id: str):
    missing = not (local_airflow.DAGS_DIR / f"{dag_id}.py").exists()
    return pytest.param(
        dag_id,
        id=dag_id,
        marks=pytest.mark.skipif(missing, reason=f"dags/{dag_id}.py does not exist yet: nothing to trigger"),
    )


@pytest.mark.slow
@pytest.mark.parametrize("dag_id", [_dag_param(dag_id) for dag_id in local_airflow.DAG_IDS])
def test_triggered_run_copies_every_table(real_scheduler: RealScheduler, dag_id: str) -> None:
    """Trigger over REST with verify=checksums: the run and its tasks succeed, the DAG and we both find the copy exact."""
    _run_admin(real_scheduler.target_url, ["DROP SCHEMA public CASCADE", "CREATE SCHEMA public"])
    api_url = real_scheduler.airflow.api_url

    run_id = local_airflow.trigger(api_url, dag_id, {"verify": "checksums"})
    state = local_airflow.wait_for_run(api_url, dag_id, run_id, timeout=RUN_TIMEOUT_S)

    states = local_airflow.task_states(api_url, dag_id, run_id)
    assert state == "success", f"{states}; task logs under {real_scheduler.airflow.home / 'logs'}"
    assert {task: s for task, s in states.items() if s not in ("success", "skipped")} == {}
    if dag_id == STREAMING_DAG_ID:
        table_tasks = {task.rsplit(".", 1)[-1]: s for task, s in states.items() if ".replicate_" in task}
        assert {f"replicate_{table}": "success" for table in NINE}.items() <= table_tasks.items()

    totals = local_airflow.xcom(api_url, dag_id, run_id, "summarize")["totals"]
    assert totals["all_verified"] is True
    assert totals["tables"] == len(NINE)
    for table in NINE:
        assert content_hash(real_scheduler.target_url, table) == content_hash(real_scheduler.source_url, table), table


class TaskKiller(threading.Thread):
    """SIGKILLs the process running task ``task_id`` once a query LIKE ``pattern`` runs on ``database``."""

    def __init__(self, scheduler: RealScheduler, dag_id: str, run_id: str, task_id: str, pattern: str) -> None:
        super().__init__(daemon=True)
        self.scheduler, self.dag_id, self.run_id, self.task_id, self.pattern = (
            scheduler,
            dag_id,
            run_id,
            task_id,
            pattern,
        )
        self.killed: str | None = None
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            conn = connect(self.scheduler.target_url)
            try:
                ti_id = None
                while not self.stop.is_set() and self.killed is None:
                    if ti_id is None:
                        found = _task_instance(self.scheduler.airflow.api_url, self.dag_id, self.run_id, self.task_id)
                        ti_id = found and found["id"]
                    busy = ti_id and conn.run(
                        "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' "
                        "AND query LIKE :q",
                        q=self.pattern,
                    )
                    pid = _process_titled(f"airflow worker -- {ti_id}") if busy else None
                    if pid:
                        os.kill(pid, signal.SIGKILL)
                        self.killed = f"pid {pid}, task instance {ti_id}"
                    time.sleep(0.005)
            finally:
                conn.close()
        except BaseException as error:  # reported by the test
            self.error = error


def _task_instance(api_url: str, dag_id: str, run_id: str, task_id: str) -> dict | None:
    """The task instance ``task_id`` (``name[map_index]`` for a mapped one) of the run, once it exists."""
    name, _, index = task_id.partition("[")
    page = local_airflow.call(api_url, "GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")
    for ti in page["task_instances"]:
        if ti["task_id"] == name and ti["map_index"] == (int(index.rstrip("]")) if index else -1):
            return ti
    return None


def _process_titled(title: str) -> int | None:
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "cmdline").read_bytes().split(b"\0")[0].decode() == title:
                    return int(proc.name)
            except OSError:
                continue
    return None


@pytest.mark.slow
@pytest.mark.parametrize(
    ("dag_id", "task_id", "conf"),
    [
        pytest.param(STREAMING_DAG_ID, "posts_and_badges.replicate_Posts", {}, id="streaming"),
        pytest.param(
            "replicate_stackoverflow_to_postgres_bulk_parallel",
            "copy_partition.load_partition[0]",
            {"partition_rows": 1_000_000},
            id="bulk",
        ),
    ],
)
def test_sigkilled_task_is_retried_and_the_copy_is_exact(real_scheduler: RealScheduler, dag_id, task_id, conf) -> None:
    """SIGKILL the task process mid-COPY under the scheduler: that try fails, the retry succeeds, Posts is exact."""
    _run_admin(real_scheduler.target_url, ["DROP SCHEMA public CASCADE", "CREATE SCHEMA public"])
    api_url = real_scheduler.airflow.api_url
    run_id = local_airflow.trigger(api_url, dag_id, {"verify": "checksums", "tables": ["Posts"], **conf})
    killer = TaskKiller(real_scheduler, dag_id, run_id, task_id, 'COPY "public"."Posts__%staging"%FROM STDIN%')
    killer.start()
    try:
        state = local_airflow.wait_for_run(api_url, dag_id, run_id, timeout=RUN_TIMEOUT_S)
    finally:
        killer.stop.set()
        killer.join(10)
    assert killer.error is None, killer.error
    assert killer.killed, "the task's COPY was never caught running: nothing was tested"
    ti = _task_instance(api_url, dag_id, run_id, task_id)
    assert state == "success", local_airflow.task_states(api_url, dag_id, run_id)
    assert (ti["state"], ti["try_number"]) == ("success", 2), ti
    assert_exact_copy(real_scheduler.source_url, real_scheduler.target_url, tables=["Posts"])


@pytest.mark.slow
@pytest.mark.parametrize(
    "conf",
    [{"tabels": ["Users"]}, {"source_conn_id": "no_such_source"}],
    ids=["misspelled-param", "missing-connection"],
)
def test_configuration_errors_fail_once_under_the_scheduler(real_scheduler: RealScheduler, conf: dict) -> None:
    """A misspelled Param or a missing connection fails discover_tables on its first try: no retry to wait for.

    The seconds from trigger to failed run are printed (``pytest -s``) for TESTING_RESULTS.md; never asserted.
    """
    api_url = real_scheduler.airflow.api_url
    started = time.monotonic()
    run_id = local_airflow.trigger(api_url, STREAMING_DAG_ID, conf)
    state = local_airflow.wait_for_run(api_url, STREAMING_DAG_ID, run_id, timeout=RUN_TIMEOUT_S)
    elapsed = time.monotonic() - started
    path = f"/api/v2/dags/{STREAMING_DAG_ID}/dagRuns/{run_id}/taskInstances/discover_tables"
    discovery = local_airflow.call(api_url, "GET", path)
    assert (state, discovery["state"], discovery["try_number"]) == ("failed", "failed", 1)
    print(f"\n{conf}: run failed {elapsed:.1f} s after the trigger, discover_tables on try 1")
