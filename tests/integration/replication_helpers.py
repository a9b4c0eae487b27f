"""Helpers for end-to-end replication tests: run a DAG with dag.test(), compare source and target."""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path

from include.stackoverflow.database import connect
from include.stackoverflow.schema import TABLES

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
NINE = [t.name for t in TABLES]


@contextmanager
def airflow_connections(source_url: str, target_url: str):
    """Point the DAGs' default connection ids at the given databases (as environment variables)."""
    names = {"AIRFLOW_CONN_STACKOVERFLOW_SOURCE": source_url, "AIRFLOW_CONN_STACKOVERFLOW_POSTGRES_TARGET": target_url}
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_dag(dag_id: str, source_url: str, target_url: str, *, retries: int = 0, **conf):
    """Run ``dag_id`` in-process with ``dag.test()``; return the DagRun.

    Retries are off unless asked for (then one second apart): dag.test() honours retry delays.
    """
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(str(DAGS_DIR)).get_dag(dag_id)
    for task in dag.tasks:
        task.retries = retries
        task.retry_delay = timedelta(seconds=1)
        task.retry_exponential_backoff = False
    with airflow_connections(source_url, target_url):
        return dag.test(run_conf=conf)


def task_states(dag_run) -> dict[str, str]:
    """``{task_id[map_index]: state}`` of a finished run."""
    return {name: state for name, (state, _) in task_attempts(dag_run).items()}


def task_attempts(dag_run) -> dict[str, tuple[str, int]]:
    """``{task_id[map_index]: (state, try_number)}`` of a finished run."""
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = dag_run.get_task_instances(session=session)
        return {
            ti.task_id + (f"[{ti.map_index}]" if ti.map_index >= 0 else ""): (
                str(ti.state).split(".")[-1].lower(),
                ti.try_number,
            )
            for ti in tis
        }


def table_names(url: str, schema: str = "public") -> list[str]:
    conn = connect(url)
    try:
        rows = conn.run(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE nspname = :s AND relkind = 'r' ORDER BY relname",
            s=schema,
        )
        return [r[0] for r in rows]
    finally:
        conn.close()


def content_hash(url: str, table: str, schema: str = "public") -> tuple[int, str]:
    """(row count, md5 of all rows' text in primary-key order): equal means equal content."""
    conn = connect(url)
    try:
        conn.run("SET DateStyle = 'ISO, YMD'")
        sql = (
            f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t.\"Id\"), '')) "
            f'FROM "{schema}"."{table}" t'
        )
        count, digest = conn.run(sql)[0]
        return count, digest
    finally:
        conn.close()


def identity_state(url: str, table: str, schema: str = "public") -> tuple[int | None, int]:
    """(max(Id), the identity's next value) for a table."""
    conn = connect(url)
    try:
        max_id = conn.run(f'SELECT max("Id") FROM "{schema}"."{table}"')[0][0]
        next_id = conn.run("SELECT nextval(pg_get_serial_sequence(:t, 'Id'))", t=f'"{schema}"."{table}"')[0][0]
        return max_id, next_id
    finally:
        conn.close()


def terminate_backend(conn, pid: int) -> None:
    conn.run("SELECT pg_terminate_backend(:p)", p=pid)


class QueryWatcher(threading.Thread):
    """Once a backend of ``database`` runs a query LIKE ``pattern``, calls ``act(conn, pid)`` once.

    ``act`` defaults to terminating that backend; ``caught`` is its pid, ``error`` what the watcher
    itself raised (the test reports it).
    """

    def __init__(self, admin_url: str, database: str, pattern: str, act=terminate_backend) -> None:
        super().__init__(daemon=True)
        self.admin_url, self.database, self.pattern, self.act = admin_url, database, pattern, act
        self.caught: int | None = None
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            conn = connect(self.admin_url)
            while not self.stop.is_set() and self.caught is None:
                found = conn.run(
                    "SELECT pid FROM pg_stat_activity WHERE datname = :d AND state = 'active' AND query LIKE :q",
                    d=self.database,
                    q=self.pattern,
                )
                if found:
                    self.act(conn, found[0][0])
                    self.caught = found[0][0]
                time.sleep(0.005)
            with suppress(Exception):  # act may have cut this session too (a server restart)
                conn.close()
        except BaseException as error:  # reported by the test
            self.error = error


def assert_exact_copy(source_url: str, target_url: str, tables=NINE) -> None:
    """Same rows, same content, Id an ALWAYS identity past max(Id), a primary key, no staging tables left."""
    for table in tables:
        assert content_hash(target_url, table) == content_hash(source_url, table), table
        max_id, next_id = identity_state(target_url, table)
        assert next_id > (max_id or 0), table
        assert key_and_identity(target_url, table) == (["Id"], "a"), table
    assert not [t for t in table_names(target_url) if t.endswith("__staging")]


def key_and_identity(url: str, table: str) -> tuple[list[str], str]:
    """(primary-key columns, attidentity of Id: 'a' is GENERATED ALWAYS)."""
    conn = connect(url)
    try:
        key = conn.run(
            "SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_index i JOIN pg_attribute a "
            "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = :t::regclass AND i.indisprimary",
            t=f'public."{table}"',
        )[0][0]
        identity = conn.run(
            "SELECT attidentity FROM pg_attribute WHERE attrelid = :t::regclass AND attname = 'Id'",
            t=f'public."{table}"',
        )[0][0]
        return key, identity
    finally:
        conn.close()
