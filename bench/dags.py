"""Our two DAGs as contenders: a real Airflow (scheduler + LocalExecutor), runs triggered over the REST API.

One Airflow serves every repetition (``localdev.airflow.start``: API server, scheduler, DAG
processor; metadata database on the ``bench`` server). Each run empties the target database,
triggers the DAG as the UI's Trigger button does, waits, and reads the run's duration (REST
start → end date), the ``summarize`` XCom (per-table seconds, rows, bytes, verification) and
the task instances, whose ids name the task processes (``airflow worker -- <ti id>``) the
memory sampler saw.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.databases import METADATA_DATABASE, TARGET_DATABASE, SourceTable, reset_database
from bench.memory import TreeSampler
from bench.results import RunResult, TableTiming
from localdev import airflow as local_airflow
from localdev import postgres
from localdev.airflow_api import call, trigger, wait_for_run, xcom

DAG_IDS = {
    "streaming_dag": "replicate_stackoverflow_to_postgres_parallel",
    "bulk_dag": "replicate_stackoverflow_to_postgres_bulk_parallel",
}
COMPONENT_TITLES = {
    "airflow scheduler": "scheduler",
    "airflow api-server": "api-server",
    "airflow api_server": "api-server",  # what the API server retitles itself
    "airflow dag-processor": "dag-processor",
}


def classify(title: str) -> str | None:
    """Role of an Airflow process from its title; None inherits the role of the process that forked it."""
    if title.startswith("airflow worker -- LocalExecutor"):  # a LocalExecutor worker: supervises one task at a time
        return "executor"
    if title.startswith("airflow worker -- "):  # the task runner it forks, titled "... -- <ti id>" once it starts
        return "task"
    return next((role for text, role in COMPONENT_TITLES.items() if text in title), None)


# localdev re-parses every DAG file every 10 s so that edits show up at once; a deployment keeps
# Airflow's defaults. Each parse is a process of its own: at 10 s, 19-26 of them ran during each
# DAG run at scale 1, on the two cores the copies need; at the defaults, 7-10.
AIRFLOW_DEFAULTS = {
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "300",
}


@contextmanager
def running_airflow(
    server: postgres.LocalServer, source_url: str, *, home: Path
) -> Generator[local_airflow.LocalAirflow, None, None]:
    """A real Airflow over ``source_url`` and the bench target, with a fresh metadata database; stopped on exit."""
    metadata_url = reset_database(server, METADATA_DATABASE)
    target_url = reset_database(server, TARGET_DATABASE)
    local_airflow.stop(home)  # leftovers of an interrupted benchmark
    airflow = local_airflow.start(home=home, source_url=source_url, target_url=target_url, metadata_url=metadata_url,
                                  extra_env=AIRFLOW_DEFAULTS)  # fmt: skip
    try:
        yield airflow
    finally:
        local_airflow.stop(home)


def run_dag(
    airflow: local_airflow.LocalAirflow,
    server: postgres.LocalServer,
    contender: str,
    tables: list[SourceTable],
    *,
    conf: dict[str, Any],
    timeout: float,
) -> RunResult:
    """Trigger ``contender``'s DAG into an empty target, wait for it, and collect its timings and memory."""
    reset_database(server, TARGET_DATABASE)
    dag_id = DAG_IDS[contender]
    api = airflow.api_url
    with TreeSampler(classify) as sampler:
        began = time.monotonic()
        run_id = trigger(api, dag_id, conf)
        state = wait_for_run(api, dag_id, run_id, timeout=timeout)
        client_seconds = time.monotonic() - began
    run = call(api, "GET", f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}")
    seconds = (_when(run["end_date"]) - _when(run["start_date"])).total_seconds()
    instances = _task_instances(api, dag_id, run_id)
    labels = {ti["id"]: ti["task_id"] + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else "") for ti in instances}
    processes = [
        replace(p, task=labels.get(p.title.removeprefix("airflow worker -- ").strip(), "?")) if p.role == "task" else p
        for p in sampler.peaks()
    ]
    summary = xcom(api, dag_id, run_id, "summarize") if state == "success" else {"tables": [], "totals": {}}
    stats = {r["stats"]["table"].split(".", 1)[-1]: r["stats"] for r in summary["tables"]}
    timings = [
        TableTiming(t.name, t.rows, t.bytes, stats[t.name]["seconds"] if t.name in stats else None) for t in tables
    ]
    components = {
        role: max((p.peak_mb for p in processes if p.role == role), default=0.0)
        for role in ("scheduler", "executor", "api-server", "dag-processor")
    }
    extras = {
        "dag_id": dag_id,
        "run_id": run_id,
        "conf": conf,
        "state": state,
        "client_seconds": round(client_seconds, 3),
        "queued_seconds": round((_when(run["start_date"]) - _when(run["queued_at"])).total_seconds(), 3),
        "task_instances": len(instances),
        "task_seconds_sum": round(sum(ti["duration"] or 0 for ti in instances), 3),
        "component_peak_mb": components,
        "dag_bytes": {name: s["bytes"] for name, s in stats.items()},
        "dag_peak_mb": {name: s["peak_memory_mb"] for name, s in stats.items()},
        "partitions": len(summary.get("partitions", [])),
        "all_verified": summary["totals"].get("all_verified"),
    }
    result = RunResult(
        contender, 0, round(seconds, 3), timings, processes, sampler.peak_sum_mb.get("task", 0.0), extras=extras
    )
    if state != "success" or not extras["all_verified"] or len(stats) != len(tables):
        result.ok = False
        result.note = f"run {state}, verified {extras['all_verified']}; task logs under {airflow.home / 'logs'}"
    return result


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def _task_instances(api: str, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """Every task instance of the run (100 per page)."""
    found: list[dict[str, Any]] = []
    path = f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}/taskInstances"
    while True:
        page = call(api, "GET", f"{path}?limit=100&offset={len(found)}")
        found.extend(page["task_instances"])
        if not page["task_instances"] or len(found) >= page["total_entries"]:
            return found
