"""DAG files parse cleanly, wire what PRODUCT §3 says, and touch no database or connection at parse time."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
STREAMING = "replicate_stackoverflow_to_postgres_parallel"
PARAMS = {
    "source_conn_id", "target_conn_id", "source_schema", "target_schema", "tables", "exclude_tables",
    "buffer_mb", "nul_policy", "verify", "load_mode",
}  # fmt: skip


class ParseTimeAccess(AssertionError):
    """Raised by the guards below: parsing a DAG file must not reach any database or connection."""


@pytest.fixture(scope="module")
def dagbag():
    """Parse dags/ with connection look-ups and network connections forbidden."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import BaseHook

    def forbidden(*args, **kwargs):
        raise ParseTimeAccess(f"parse-time access: {args!r}")

    patch = pytest.MonkeyPatch()
    patch.setattr(BaseHook, "get_connection", classmethod(forbidden))
    patch.setattr(socket.socket, "connect", forbidden)
    patch.setenv("AIRFLOW_CONN_STACKOVERFLOW_SOURCE", "postgresql://must-not-be-read")
    try:
        yield DagBag(str(DAGS_DIR))
    finally:
        patch.undo()


def test_no_import_errors(dagbag):
    """Every DAG file imports without error (and without touching a connection: the guards would raise)."""
    assert dagbag.import_errors == {}


def test_streaming_dag_exists(dagbag):
    """The streaming DAG is there under its fixed id."""
    assert STREAMING in dagbag.dags


@pytest.fixture
def streaming(dagbag):
    return dagbag.dags[STREAMING]


TO_TARGET = "replicate_stackoverflow_to_target"


@pytest.fixture
def to_target(dagbag):
    return dagbag.dags[TO_TARGET]


def test_params_are_the_documented_names(streaming):
    """The Params users pass with --conf keep their documented names and defaults."""
    assert PARAMS <= set(streaming.params)
    defaults = {k: streaming.params[k] for k in PARAMS}
    assert defaults["source_conn_id"] == "stackoverflow_source"
    assert defaults["target_conn_id"] == "stackoverflow_postgres_target"
    assert defaults["buffer_mb"] == 256
    assert defaults["nul_policy"] == "strip"
    assert defaults["load_mode"] == "replace"
    assert defaults["tables"] == [] and defaults["exclude_tables"] == []


def test_retries_tags_doc(streaming):
    """Every task retries at least twice; the DAG has tags and a Markdown doc."""
    assert all(task.retries >= 2 for task in streaming.tasks)
    assert {"replication", "stackoverflow"} <= set(streaming.tags)
    assert streaming.doc_md and "verified" in streaming.doc_md


GROUPS = {
    "lookups": {"replicate_VoteTypes", "replicate_PostTypes", "replicate_LinkTypes"},
    "users": {"replicate_Users"},
    "posts_and_badges": {"replicate_Badges", "replicate_Posts"},
    "post_dependents": {"replicate_Comments", "replicate_Votes", "replicate_PostLinks"},
}


TABLE_BY_TABLE = [STREAMING, TO_TARGET]


@pytest.mark.parametrize("dag_id", TABLE_BY_TABLE)
def test_one_task_per_table_in_four_groups(dagbag, dag_id):
    """Each of the nine tables has its own task in its level's TaskGroup, plus a mapped task for other tables."""
    for group, tasks in GROUPS.items():
        ids = {t.task_id.split(".", 1)[1] for t in dagbag.dags[dag_id].tasks if t.task_id.startswith(group + ".")}
        assert ids == tasks | {"list_other_tables", "replicate_other_tables"}, group


def group_of(task_id: str) -> str:
    return task_id.split(".", 1)[0]


@pytest.mark.parametrize("dag_id", TABLE_BY_TABLE)
def test_groups_are_not_chained(dagbag, dag_id):
    """Load order does not constrain scheduling: no level group waits for another; tables wait for the plan only.

    (and for the foreign keys to be released: a key in force would reject rows loaded out of order)
    """
    for task in dagbag.dags[dag_id].tasks:
        if group_of(task.task_id) in GROUPS:
            outside = {u for u in task.upstream_task_ids if group_of(u) != group_of(task.task_id)}
            assert outside <= {"discover_tables", "release_foreign_keys"}, task.task_id


@pytest.mark.parametrize("dag_id", TABLE_BY_TABLE)
def test_largest_tables_start_first(dagbag, dag_id):
    """priority_weight orders the nine by size (Posts > Votes > Comments > Badges > Users > PostLinks > lookups).

    ``absolute``: each task's own weight; the default (``downstream``) would add the weights of what follows.
    """
    tasks = {t.task_id.split(".", 1)[-1]: t for t in dagbag.dags[dag_id].tasks if group_of(t.task_id) in GROUPS}
    by_size = ["Posts", "Votes", "Comments", "Badges", "Users", "PostLinks", "VoteTypes"]
    weights = [tasks[f"replicate_{name}"].priority_weight for name in by_size]
    assert weights == sorted(weights, reverse=True) and len(set(weights)) == len(weights), weights
    assert tasks["replicate_VoteTypes"].priority_weight == tasks["replicate_LinkTypes"].priority_weight
    assert tasks["replicate_other_tables"].priority_weight > tasks["replicate_Votes"].priority_weight
    assert all(str(t.weight_rule) == "absolute" or getattr(t.weight_rule, "_weight_rule", "") == "absolute"
               for t in tasks.values()), {n: t.weight_rule for n, t in tasks.items()}  # fmt: skip


@pytest.mark.parametrize("dag_id", TABLE_BY_TABLE)
def test_foreign_keys_released_before_and_created_after_every_table(dagbag, dag_id):
    """release_foreign_keys precedes every table task; create_foreign_keys follows all, tolerating skipped ones."""
    dag = dagbag.dags[dag_id]
    tables = [t.task_id for t in dag.tasks if group_of(t.task_id) in GROUPS and "replicate_" in t.task_id]
    create = dag.get_task("create_foreign_keys")
    assert create.trigger_rule == "none_failed"
    assert set(tables) <= create.upstream_task_ids
    assert "create_foreign_keys" in dag.get_task("summarize").upstream_task_ids
    for table in tables:
        assert "release_foreign_keys" in dag.get_task(table).get_flat_relative_ids(upstream=True), table
    assert dag.get_task("release_foreign_keys").upstream_task_ids == {"discover_tables"}


@pytest.mark.parametrize("dag_id", [STREAMING, TO_TARGET, "replicate_stackoverflow_to_postgres_bulk_parallel"])
def test_foreign_keys_param_defaults_off(dagbag, dag_id):
    """foreign_keys: off by default (today's target: none created), or source / stackoverflow."""
    param = dagbag.dags[dag_id].params.get_param("foreign_keys")
    assert param.value == "off"
    assert param.schema["enum"] == ["off", "source", "stackoverflow"]


def test_table_tasks_tolerate_skipped_upstreams(streaming):
    """A run limited to some tables skips the others without blocking later groups."""
    for task in streaming.tasks:
        name = task.task_id.rsplit(".", 1)[-1]
        if name.startswith(("replicate", "list_other_tables")) or name == "summarize":
            assert task.trigger_rule == "none_failed", task.task_id


def test_to_target_dag_takes_a_sql_server_target(to_target):
    """SQL Server to SQL Server: the streaming DAG's Params, a SQL Server target, NUL kept, 128 MB spools."""
    assert PARAMS <= set(to_target.params)
    assert to_target.params["target_conn_id"] == "stackoverflow_target"
    assert to_target.params["buffer_mb"] == 128
    assert to_target.params["nul_policy"] == "keep"
    assert to_target.params["target_schema"] == "dbo"
    assert all(task.retries >= 2 for task in to_target.tasks)
    assert {"replication", "mssql"} <= set(to_target.tags) and "verified against the source" in to_target.doc_md


BULK = "replicate_stackoverflow_to_postgres_bulk_parallel"


@pytest.fixture
def bulk(dagbag):
    return dagbag.dags[BULK]


def test_bulk_dag_params_retries_tags(bulk):
    """The bulk DAG has the streaming DAG's Params plus partition_rows and staging_url; tasks retry."""
    assert PARAMS | {"partition_rows", "staging_url"} <= set(bulk.params)
    assert bulk.params["partition_rows"] == 2_000_000
    assert all(task.retries >= 2 for task in bulk.tasks)
    assert {"replication", "bulk"} <= set(bulk.tags) and bulk.doc_md


def test_bulk_partitions_are_mapped_and_loads_take_a_pool_slot(bulk):
    """Extract and load are mapped per partition (one task group instance each); loads use the COPY pool."""
    tasks = {t.task_id: t for t in bulk.tasks}
    assert {"copy_partition.extract_partition", "copy_partition.load_partition", "finish_table"} <= set(tasks)
    assert tasks["copy_partition.load_partition"].pool == "postgres_copy_sessions"
    assert "copy_partition.extract_partition" in tasks["copy_partition.load_partition"].upstream_task_ids
    # a staged partition is loaded before the next is extracted (by downstream weights, every extract came first)
    extract, load = tasks["copy_partition.extract_partition"], tasks["copy_partition.load_partition"]
    assert load.priority_weight > extract.priority_weight and extract.weight_rule == load.weight_rule == "absolute"
    assert "copy_partition.load_partition" in tasks["finish_table"].upstream_task_ids
    assert "finish_table" in tasks["summarize"].upstream_task_ids


def test_bulk_swaps_wait_for_released_keys_and_keys_follow_them(bulk):
    """The swaps (finish_table) wait for release_foreign_keys; create_foreign_keys follows every swap."""
    tasks = {t.task_id: t for t in bulk.tasks}
    assert "release_foreign_keys" in tasks["finish_table"].upstream_task_ids
    assert "release_foreign_keys" not in tasks["copy_partition.load_partition"].upstream_task_ids
    assert tasks["create_foreign_keys"].upstream_task_ids >= {"finish_table", "release_foreign_keys"}
    assert tasks["create_foreign_keys"].trigger_rule == "none_failed"
    assert "create_foreign_keys" in tasks["summarize"].upstream_task_ids


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, {STREAMING: None, TO_TARGET: None}),
        ({"STACKOVERFLOW_SCHEDULE": "@daily"}, {STREAMING: "0 0 * * *", TO_TARGET: "0 0 * * *"}),
        (
            {"STACKOVERFLOW_SCHEDULE": "@daily", f"STACKOVERFLOW_SCHEDULE__{STREAMING.upper()}": "0 2 * * *"},
            {STREAMING: "0 2 * * *", TO_TARGET: "0 0 * * *"},
        ),
    ],
    ids=["unset", "every DAG", "one DAG"],
)
def test_schedule_comes_from_the_environment(monkeypatch, env, expected):
    """STACKOVERFLOW_SCHEDULE sets every DAG's schedule; STACKOVERFLOW_SCHEDULE__<DAG_ID> one DAG's; unset: manual."""
    from airflow.dag_processing.dagbag import DagBag

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    dags = DagBag(str(DAGS_DIR)).dags
    for dag_id, schedule in expected.items():
        timetable = dags[dag_id].timetable
        if schedule is None:
            assert not timetable.can_be_scheduled, dag_id
        else:
            assert timetable.expression == schedule, dag_id  # @daily as its cron expression


def test_load_mode_default_comes_from_the_environment(monkeypatch):
    """STACKOVERFLOW_LOAD_MODE=sync makes scheduled runs sync; the bulk DAG keeps replace; a bad value names the variable."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("STACKOVERFLOW_LOAD_MODE", "sync")
    dags = DagBag(str(DAGS_DIR)).dags
    assert dags[STREAMING].params["load_mode"] == "sync"
    assert dags[TO_TARGET].params["load_mode"] == "sync"
    assert dags["replicate_stackoverflow_to_postgres_bulk_parallel"].params["load_mode"] == "replace"
    monkeypatch.setenv("STACKOVERFLOW_LOAD_MODE", "synk")
    errors = DagBag(str(DAGS_DIR)).import_errors
    assert errors and all("STACKOVERFLOW_LOAD_MODE must be one of replace, append, sync; got 'synk'" in e
                          for e in errors.values())  # fmt: skip


@pytest.mark.parametrize("dag_id", [STREAMING, BULK, TO_TARGET])
def test_every_task_has_a_timeout_scaled_before_it_runs(dagbag, dag_id):
    """execution_timeout on every task, and the hook that scales it to the table's rows (limits.py)."""
    from include.replication.airflow.limits import scale_timeout

    for task in dagbag.dags[dag_id].tasks:
        # a mapped task (replicate_other_tables, finish_table) holds them until it is expanded
        settings = task.partial_kwargs if hasattr(task, "partial_kwargs") else vars(task)
        timeout = settings.get("execution_timeout")
        assert timeout is not None and timeout.total_seconds() > 0, task.task_id
        assert settings.get("pre_execute", settings.get("_pre_execute_hook")) is scale_timeout, task.task_id


def test_source_reads_take_a_pool_slot(dagbag):
    """Streaming table tasks, bulk extracts and bulk verify-and-swap take the source pool; loads the COPY pool."""
    streaming = {t.task_id: t.pool for t in dagbag.dags[STREAMING].tasks}
    bulk = {t.task_id: t.pool for t in dagbag.dags[BULK].tasks}
    assert streaming["users.replicate_Users"] == streaming["posts_and_badges.replicate_other_tables"]
    assert streaming["users.replicate_Users"] == "source_read_sessions"
    assert bulk["copy_partition.extract_partition"] == bulk["finish_table"] == "source_read_sessions"
    assert bulk["copy_partition.load_partition"] == "postgres_copy_sessions"
