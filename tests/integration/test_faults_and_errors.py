"""Faults and bad input end to end: each gets a clear failure before data moves, or a retry that completes."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest

from include.stackoverflow.database import connect
from include.stackoverflow.generate import generate
from tests.integration.replication_helpers import (
    QueryWatcher,
    assert_exact_copy,
    run_dag,
    table_names,
    task_attempts,
    task_states,
)

STREAMING = "replicate_stackoverflow_to_postgres_parallel"
BULK = "replicate_stackoverflow_to_postgres_bulk_parallel"


@pytest.mark.parametrize(
    ("dag_id", "task_id"),
    [(STREAMING, "posts_and_badges.replicate_Posts"), (BULK, "copy_partition.extract_partition[0]")],
    ids=["streaming", "bulk"],
)
def test_source_connection_dropped_mid_read(
    airflow_db, pg_server_url, fresh_database, target_database, dag_id, task_id, tmp_path
):
    """The source backend is terminated while it streams Posts: that task fails, its retry completes, Posts verifies."""
    generate(fresh_database, scale=0.005, seed=14)
    killer = QueryWatcher(pg_server_url, fresh_database.rsplit("/", 1)[1], 'COPY (SELECT%FROM "public"."Posts"%')
    killer.start()
    conf = {"tables": ["Posts"], "verify": "checksums"}
    if dag_id == BULK:
        conf |= {"partition_rows": 1_000_000, "staging_url": (tmp_path / "s").as_uri()}
    try:
        run = run_dag(dag_id, fresh_database, target_database, retries=2, **conf)
    finally:
        killer.stop.set()
        killer.join(5)
    assert killer.caught is not None, "no source read was caught running: nothing was tested"
    attempts = task_attempts(run)
    assert str(run.state) == "success", attempts
    assert attempts[task_id] == ("success", 2)
    assert_exact_copy(fresh_database, target_database, tables=["Posts"])


def test_bad_connection_id_fails_before_any_data_moves(airflow_db, fresh_database, target_database, capfd):
    """A source_conn_id that does not exist fails discovery, saying how to define it; the target is untouched."""
    run = run_dag(STREAMING, fresh_database, target_database, source_conn_id="no_such_source")
    assert task_states(run)["discover_tables"] == "failed"
    assert "AIRFLOW_CONN_NO_SUCH_SOURCE" in "".join(capfd.readouterr())  # the task log, as dag.test prints it
    assert table_names(target_database) == []


def test_unsupported_type_fails_before_any_data_moves(airflow_db, fresh_database, target_database, capfd):
    """A column type the project cannot copy fails discovery naming table, column and type; nothing is created."""
    generate(fresh_database, scale=0.001, seed=1)
    conn = connect(fresh_database)
    conn.run("CREATE TYPE mood AS ENUM ('sad', 'ok')")
    conn.run('CREATE TABLE "Moods" ("Id" int PRIMARY KEY, "Feeling" mood)')
    conn.close()
    run = run_dag(STREAMING, fresh_database, target_database)
    assert task_states(run)["discover_tables"] == "failed"
    assert "public.Moods.Feeling: PostgreSQL type 'mood' is not supported" in "".join(capfd.readouterr())
    assert table_names(target_database) == []


def test_missing_target_schema_is_created(airflow_db, fresh_database, target_database):
    """A target schema that does not exist yet is created, and the tables land in it."""
    generate(fresh_database, scale=0.001, seed=1)
    run = run_dag(STREAMING, fresh_database, target_database, target_schema="Replica Schema", tables=["Users"])
    assert str(run.state) == "success", task_states(run)
    assert table_names(target_database, schema="Replica Schema") == ["Users"]


def test_a_misspelled_param_fails_before_anything_runs(airflow_db, fresh_database, target_database, capfd):
    """--conf '{"tabels": ...}' would copy every table: it fails discovery naming the key and the likely one."""
    generate(fresh_database, scale=0.001, seed=1)
    run = run_dag(STREAMING, fresh_database, target_database, retries=2, tabels=["Users"])
    assert task_attempts(run)["discover_tables"] == ("failed", 1)  # no retry: the conf would not change
    assert "unknown Param 'tabels' (did you mean 'tables'?)" in "".join(capfd.readouterr())
    assert table_names(target_database) == []


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{password}@{parts.hostname}:{parts.port}"))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda url: with_password(url, "WrongSecret1"), "wrong password"),
        (lambda url: url.rsplit("/", 1)[0] + "/no_such_database", "no such database"),
        (lambda url: url.rsplit("/", 1)[0], "names no database"),
    ],
    ids=["wrong-password", "missing-database", "no-database-named"],
)
def test_configuration_errors_fail_at_once_without_retries(
    airflow_db, fresh_database, target_database, capfd, change, expected
):
    """A refused login, a database that does not exist, or none named: the task fails once, saying which."""
    generate(fresh_database, scale=0.001, seed=1)
    run = run_dag(STREAMING, change(fresh_database), target_database, retries=2)
    assert task_attempts(run)["discover_tables"] == ("failed", 1)
    log = "".join(capfd.readouterr())
    assert expected in log and "connection 'stackoverflow_source'" in log
    assert "WrongSecret1" not in log


def test_an_unreachable_server_is_retried(airflow_db, fresh_database, target_database):
    """Nothing listens on the port: that may pass (a restarting server), so the task retries."""
    parts = urlsplit(fresh_database)
    refused = urlunsplit(parts._replace(netloc=f"{parts.username}:{parts.password}@127.0.0.1:9"))
    run = run_dag(STREAMING, refused, target_database, retries=1)
    assert task_attempts(run)["discover_tables"] == ("failed", 2)
