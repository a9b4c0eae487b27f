"""Lineage end to end: real DAG runs with the OpenLineage provider on, their events read back from files.

OpenLineage is turned on as a deployment turns it on, by ``AIRFLOW__OPENLINEAGE__TRANSPORT``
(here the ``file`` transport), in processes of its own: it reads its settings once per process,
and this session runs with it off (as every other test does, which is the "disabled" case).

``dag.test()`` runs every task in one process, where Airflow's lineage collector lives for the
whole run: each task's event also names what earlier tasks reported. So the ``dag.test()`` run
copies one table, and the real scheduler, a process per task, shows every table task apart.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pg8000.native import identifier, literal

from include.stackoverflow.database import connect
from include.stackoverflow.generate import generate
from localdev import airflow as local_airflow
from tests.conftest import PROJECT_DIR, database_url
from tests.integration.replication_helpers import NINE

STREAMING_DAG_ID = "replicate_stackoverflow_to_postgres_parallel"
BULK_DAG_ID = "replicate_stackoverflow_to_postgres_bulk_parallel"
BULK_TABLES = ("Users", "Badges")

# Runs the DAG in the child; prints the run's state and task states as its last line.
CHILD = """
import json, sys
from tests.integration.replication_helpers import run_dag, task_states
run = run_dag(sys.argv[1], sys.argv[2], sys.argv[3], **json.loads(sys.argv[4]))
print(json.dumps({"state": str(run.state), "tasks": task_states(run)}))
"""


def openlineage_env(events: Path) -> dict[str, str]:
    """OpenLineage on, as a deployment turns it on: the file transport, one JSON file per event under ``events``."""
    transport = {"type": "file", "log_file_path": str(events / "event"), "append": False}
    return {
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "replication-tests",
    }


def run_with_openlineage(dag_id: str, source: str, target: str, events: Path, **conf) -> dict:
    """Run ``dag_id`` with ``dag.test()`` in a child process with OpenLineage on; return its state and task states."""
    env = os.environ | openlineage_env(events)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, dag_id, source, target, json.dumps(conf)],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-5000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def read_events(folder: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(folder.iterdir())]


def task_event(events: list[dict], task_id: str, event_type: str) -> dict:
    """The one ``event_type`` event of the task whose id ends in ``task_id``."""
    found = [e for e in events if e.get("eventType") == event_type and e["job"]["name"].endswith(f".{task_id}")]
    assert len(found) == 1, [(e.get("eventType"), e["job"]["name"]) for e in events]
    return found[0]


def datasets(event: dict, side: str) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in event.get(side, [])]


def dataset_of(url: str, schema: str, table: str) -> tuple[str, str]:
    """(namespace, name) of a table by the OpenLineage naming spec, for a PostgreSQL URL."""
    parts = urlsplit(url)
    return f"postgres://{parts.hostname}:{parts.port or 5432}", f"{parts.path.lstrip('/')}.{schema}.{table}"


def test_table_task_reports_source_as_input_and_target_as_output(airflow_db, fresh_database, target_database, tmp_path):
    """The streaming DAG's Users task: COMPLETE names the source Users as input, the target Users as output."""
    generate(fresh_database, scale=0.001, seed=3)
    run = run_with_openlineage(STREAMING_DAG_ID, fresh_database, target_database, tmp_path, tables=["Users"])
    assert run["state"] == "success", run["tasks"]

    complete = task_event(read_events(tmp_path), "replicate_Users", "COMPLETE")
    assert datasets(complete, "inputs") == [dataset_of(fresh_database, "public", "Users")]
    assert datasets(complete, "outputs") == [dataset_of(target_database, "public", "Users")]


def test_a_failed_table_task_names_its_tables_too(airflow_db, pg_server_url, fresh_database, target_database, tmp_path):
    """The target login may not create tables: Users fails, and its FAIL event still names both tables."""
    generate(fresh_database, scale=0.001, seed=4)
    role, password = f"so_no_create_{secrets.token_hex(3)}", secrets.token_hex(8)
    admin = connect(pg_server_url)
    admin.run(f"CREATE ROLE {identifier(role)} LOGIN PASSWORD {literal(password)}")  # PG 15+: no CREATE on public
    try:
        parts = urlsplit(target_database)
        as_role = parts._replace(netloc=f"{role}:{password}@{parts.hostname}:{parts.port}").geturl()
        run = run_with_openlineage(STREAMING_DAG_ID, fresh_database, as_role, tmp_path, tables=["Users"])
    finally:
        admin.run(f"DROP ROLE IF EXISTS {identifier(role)}")
        admin.close()
    assert run["tasks"]["users.replicate_Users"] == "failed", run["tasks"]

    failed = task_event(read_events(tmp_path), "replicate_Users", "FAIL")
    assert datasets(failed, "inputs") == [dataset_of(fresh_database, "public", "Users")]
    assert datasets(failed, "outputs") == [dataset_of(target_database, "public", "Users")]


@pytest.mark.slow
def test_under_the_scheduler_each_table_task_reports_its_own_tables(pg_server_url, tmp_path):
    """Both DAGs triggered on a real scheduler (a process per task): each table task names its table only.

    The streaming DAG's ``replicate_<table>`` tasks (all nine tables) and the bulk DAG's mapped
    ``finish_table`` tasks (two tables: its partition tasks are many) each report one input, the
    source table, and one output, the target table.
    """
    suffix = secrets.token_hex(3)
    names = {role: f"lineage_{role}_{suffix}" for role in ("source", "target", "meta")}
    admin = connect(pg_server_url)
    for name in names.values():
        admin.run(f"CREATE DATABASE {identifier(name)}")
    urls = {role: database_url(pg_server_url, name) for role, name in names.items()}
    events, home = tmp_path / "events", tmp_path / "airflow"
    events.mkdir()
    try:
        generate(urls["source"], scale=0.001, seed=6)
        airflow = local_airflow.start(home=home, source_url=urls["source"], target_url=urls["target"],
                                      metadata_url=urls["meta"], extra_env=openlineage_env(events))  # fmt: skip
        for dag_id, conf in ((STREAMING_DAG_ID, {}), (BULK_DAG_ID, {"tables": list(BULK_TABLES)})):
            run_id = local_airflow.trigger(airflow.api_url, dag_id, conf)
            state = local_airflow.wait_for_run(airflow.api_url, dag_id, run_id, timeout=300)
            assert state == "success", local_airflow.task_states(airflow.api_url, dag_id, run_id)
    finally:
        local_airflow.stop(home)
        for name in names.values():
            admin.run(f"DROP DATABASE IF EXISTS {identifier(name)} WITH (FORCE)")
        admin.close()

    expected = {
        table: ([dataset_of(urls["source"], "public", table)], [dataset_of(urls["target"], "public", table)])
        for table in NINE
    }
    emitted = read_events(events)
    streaming = {table: task_event(emitted, f"replicate_{table}", "COMPLETE") for table in NINE}
    assert {t: (datasets(e, "inputs"), datasets(e, "outputs")) for t, e in streaming.items()} == expected
    finished = [
        e for e in emitted if e.get("eventType") == "COMPLETE" and e["job"]["name"] == f"{BULK_DAG_ID}.finish_table"
    ]
    reported = sorted((datasets(e, "inputs"), datasets(e, "outputs")) for e in finished)
    assert reported == sorted(expected[table] for table in BULK_TABLES)
