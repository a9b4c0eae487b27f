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
import secrets
import socket
from urllib.parse import urlsplit

import pytest
from pg8000.native import identifier, literal

from include.stackoverflow.database import connect
from include.stackoverflow.generate import generate
from localdev import airflow as local_airflow
from tests.conftest import database_url
from tests.integration.lineage_helpers import (
    dataset_of,
    datasets,
    openlineage_env,
    read_events,
    run_with_openlineage,
    task_event,
)
from tests.integration.replication_helpers import NINE

STREAMING_DAG_ID = "replicate_stackoverflow_to_postgres_parallel"
BULK_DAG_ID = "replicate_stackoverflow_to_postgres_bulk_parallel"
BULK_TABLES = ("Users", "Badges")


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


def test_a_lineage_backend_that_is_down_does_not_fail_the_copy(airflow_db, fresh_database, target_database, tmp_path):
    """HTTP transport to a closed port: every event fails to send, the run succeeds.

    Without retries, so each failure is immediate: with the transport's default five, each event
    waits about 9 s, capped by ``[openlineage] execution_timeout`` (TESTING_RESULTS.md).
    """
    generate(fresh_database, scale=0.001, seed=5)
    down = {"type": "http", "url": f"http://127.0.0.1:{closed_port()}", "retry": {"total": 0}}
    run = run_with_openlineage(STREAMING_DAG_ID, fresh_database, target_database, tmp_path,
                               extra_env={"AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(down)}, tables=["Users"])  # fmt: skip
    assert run["state"] == "success", run["tasks"]
    assert run["tasks"]["users.replicate_Users"] == "success"


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
