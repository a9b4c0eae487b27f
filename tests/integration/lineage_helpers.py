"""Helpers for the lineage tests: run a DAG with OpenLineage on (file transport), read its events.

OpenLineage reads its settings once per process, and the test session runs with it off, so the
DAG runs with ``dag.test()`` in a child process given ``AIRFLOW__OPENLINEAGE__TRANSPORT``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from tests.conftest import PROJECT_DIR

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


def run_with_openlineage(
    dag_id: str, source: str, target: str, events: Path, *, extra_env: dict[str, str] | None = None, **conf
) -> dict:
    """Run ``dag_id`` with ``dag.test()`` in a child process with OpenLineage on; return its state and task states.

    The child gets a copy of the session's Airflow home and its sqlite database: with both
    processes writing the one file, the session's database came out "malformed" after a failed
    task's run, and every later DAG test of the suite failed on it.
    """
    home = Path(tempfile.mkdtemp(prefix="airflow-lineage-")) / "home"
    shutil.copytree(os.environ["AIRFLOW_HOME"], home, ignore=shutil.ignore_patterns("logs"))
    isolated = {"AIRFLOW_HOME": str(home), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}"}
    env = os.environ | isolated | openlineage_env(events) | (extra_env or {})
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
