"""Two runs on one target never write the same table at once, and the two PostgreSQL DAGs never share staging tables.

Each transaction that writes a live table claims it first (``postgres/claims.py``, an advisory lock);
a second claim waits, naming the session that holds it, until the holder ends its transaction.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from include.replication.models import TableName
from include.replication.postgres.claims import claim_table
from include.replication.postgres.ddl import staging_table
from include.stackoverflow.database import connect
from include.stackoverflow.generate import generate
from tests.integration.replication_helpers import assert_exact_copy

PROJECT_DIR = Path(__file__).resolve().parents[2]
USERS = TableName("public", "Users")
WAITING = "another run is writing this table on the target"
RUN_TIMEOUT_S = 300


def test_the_two_dags_stage_under_different_names():
    assert staging_table(USERS) != staging_table(USERS, bulk=True)
    assert staging_table(USERS, bulk=True).name.endswith("__staging")  # tests and docs look for that ending


def test_a_second_claim_waits_for_the_first_and_names_its_holder(fresh_database, caplog):
    holder, waiter = connect(fresh_database), connect(fresh_database)
    acquired = threading.Event()

    def second_run() -> None:
        waiter.run("BEGIN")
        claim_table(waiter, USERS)
        acquired.set()
        waiter.run("COMMIT")

    try:
        holder.run("BEGIN")
        claim_table(holder, USERS)
        holder_pid = holder.run("SELECT pg_backend_pid()")[0][0]
        with caplog.at_level(logging.INFO, logger="include.replication.postgres.claims"):
            thread = threading.Thread(target=second_run)
            thread.start()
            assert not acquired.wait(1.5), "the second claim did not wait for the first"
            holder.run("COMMIT")
            assert acquired.wait(10), "the second claim did not follow the first one's commit"
            thread.join(10)
        waits = [r.getMessage() for r in caplog.records if WAITING in r.getMessage()]
        assert waits and f"pid {holder_pid}" in waits[0], caplog.text
        assert "\n" not in waits[0]
    finally:
        holder.close()
        waiter.close()


def test_streaming_and_bulk_dags_at_once_on_one_target(airflow_db, fresh_database, target_database, tmp_path):
    """Both PostgreSQL DAGs copy Users into one target at the same time: both succeed, one after the other.

    This test holds the claim on public.Users while both start, so that both are seen waiting for
    it (the overlap is certain, not left to timing); then it lets go.
    """
    generate(fresh_database, scale=0.002, seed=12)
    runs = {
        "replicate_stackoverflow_to_postgres_parallel": {"tables": ["Users"], "verify": "checksums"},
        "replicate_stackoverflow_to_postgres_bulk_parallel": {
            "tables": ["Users"], "verify": "checksums", "partition_rows": 200,
            "staging_url": (tmp_path / "staging").as_uri(),
        },
    }  # fmt: skip
    blocker = connect(target_database)
    blocker.run("BEGIN")
    claim_table(blocker, USERS)
    blocker_pid = blocker.run("SELECT pg_backend_pid()")[0][0]
    processes, outputs = {}, {}
    try:
        for dag_id, conf in runs.items():
            outputs[dag_id] = tmp_path / f"{dag_id}.log"
            processes[dag_id] = start_dag_process(dag_id, fresh_database, target_database, conf,
                                                  home=tmp_path / f"home-{dag_id}", out=outputs[dag_id])  # fmt: skip
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not all(f"pid {blocker_pid}" in text(outputs[d]) and WAITING in text(outputs[d]) for d in runs):
            assert time.monotonic() < deadline, {d: text(outputs[d])[-3000:] for d in runs}
            assert all(p.poll() is None for p in processes.values()), {d: text(outputs[d])[-3000:] for d in runs}
            time.sleep(0.5)
    finally:
        blocker.run("COMMIT")
        blocker.close()
    for dag_id, process in processes.items():
        process.wait(RUN_TIMEOUT_S)
        result = [line for line in text(outputs[dag_id]).splitlines() if line.startswith("RESULT ")]
        assert result, text(outputs[dag_id])[-3000:]
        assert json.loads(result[-1][7:])["state"] == "success", result[-1]
    assert_exact_copy(fresh_database, target_database, tables=["Users"])


def start_dag_process(dag_id: str, source: str, target: str, conf: dict, *, home: Path, out: Path) -> subprocess.Popen:
    """``dag.test()`` of ``dag_id`` in a process of its own, with a copy of the session's Airflow metadata database."""
    shutil.copytree(os.environ["AIRFLOW_HOME"], home, ignore=shutil.ignore_patterns("logs"))
    env = os.environ | {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "PYTHONPATH": str(PROJECT_DIR),
    }
    script = (  # run_dag's steps, parsing only this DAG's file: two processes start on two loaded cores
        "import json, sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        "from tests.integration.replication_helpers import DAGS_DIR, airflow_connections, task_states\n"
        "dag = DagBag(str(DAGS_DIR / (sys.argv[1] + '.py'))).get_dag(sys.argv[1])\n"
        "for task in dag.tasks:\n"
        "    task.retries = 0\n"
        "with airflow_connections(sys.argv[2], sys.argv[3]):\n"
        "    run = dag.test(run_conf=json.loads(sys.argv[4]))\n"
        "print('RESULT ' + json.dumps({'state': str(run.state), 'tasks': task_states(run)}), flush=True)\n"
    )
    with out.open("wb") as sink:
        return subprocess.Popen([sys.executable, "-c", script, dag_id, source, target, json.dumps(conf)],
                                cwd=PROJECT_DIR, env=env, stdout=sink, stderr=subprocess.STDOUT)  # fmt: skip


def text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
