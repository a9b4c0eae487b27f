"""The streaming DAG end to end with dag.test(): PostgreSQL source -> PostgreSQL target, verified."""

from __future__ import annotations

import pytest

from include.stackoverflow.database import connect
from include.stackoverflow.generate import generate
from include.stackoverflow.load_dump import load_dump
from tests.conftest import require_stackexchange_dir, stackexchange_sites
from tests.integration.replication_helpers import (
    NINE,
    assert_exact_copy,
    content_hash,
    run_dag,
    table_names,
    task_states,
)

DAG_ID = "replicate_stackoverflow_to_postgres_parallel"


@pytest.mark.parametrize("read_mode", ["copy", "rows"])
def test_generated_source_copies_exactly(airflow_db, fresh_database, target_database, read_mode):
    """Scale 0.01 (193k rows), verify=checksums: the run succeeds and every table is identical."""
    generate(fresh_database, scale=0.01, seed=5)
    run = run_dag(DAG_ID, fresh_database, target_database, verify="checksums", source_read_mode=read_mode)
    assert str(run.state) == "success", task_states(run)
    assert_exact_copy(fresh_database, target_database)


def test_rerun_leaves_identical_tables(airflow_db, fresh_database, target_database):
    """Running twice replaces rather than appends: the same content, no duplicates."""
    generate(fresh_database, scale=0.002, seed=8)
    first = run_dag(DAG_ID, fresh_database, target_database, verify="checksums")
    hashes = {t: content_hash(target_database, t) for t in NINE}
    second = run_dag(DAG_ID, fresh_database, target_database, verify="checksums")
    assert str(first.state) == str(second.state) == "success"
    assert {t: content_hash(target_database, t) for t in NINE} == hashes
    assert_exact_copy(fresh_database, target_database)


@pytest.mark.parametrize("site", stackexchange_sites(), ids=lambda p: p.name)
def test_real_dump_copies_exactly(airflow_db, fresh_database, target_database, site):
    """Every real Stack Exchange dump, loaded as a source, replicates exactly with verify=checksums."""
    require_stackexchange_dir()
    load_dump(site, fresh_database)
    run = run_dag(DAG_ID, fresh_database, target_database, verify="checksums")
    assert str(run.state) == "success", task_states(run)
    assert_exact_copy(fresh_database, target_database)


def test_real_dumps_present_or_skipped():
    """Says clearly when the real-data tests above had nothing to run on."""
    require_stackexchange_dir()
    assert stackexchange_sites()


def test_extra_tables_are_discovered_and_replicated(airflow_db, fresh_database, target_database):
    """A table beyond the nine (here with a foreign key to Posts) is found in the catalog and copied."""
    generate(fresh_database, scale=0.001, seed=2)
    conn = connect(fresh_database)
    conn.run(
        'CREATE TABLE "Post History" ("Id" bigint PRIMARY KEY, "PostId" integer REFERENCES "Posts" ("Id"), '
        '"Text" text, "Select" boolean, "Amount" numeric(12,4), "At" timestamptz, '
        '"Ratio" double precision, "Small" real, "Raw" bytea, "Key" uuid)'
    )
    conn.run(
        'INSERT INTO "Post History" SELECT g, (SELECT min("Id") FROM "Posts"), '
        "repeat(E'x\\t\\\\y', g % 4), g % 2 = 0, g * 1.2345, timestamptz '2010-01-01 12:00+02' + g * interval '1 s' "
        "FROM generate_series(1, 500) g"
    )
    conn.close()
    run = run_dag(DAG_ID, fresh_database, target_database, verify="checksums")
    states = task_states(run)
    assert str(run.state) == "success", states
    assert states["post_dependents.replicate_other_tables[0]"] == "success"
    assert content_hash(target_database, "Post History") == content_hash(fresh_database, "Post History")


def test_tables_param_limits_the_run(airflow_db, fresh_database, target_database):
    """tables=['Users'] copies only Users; the other table tasks are skipped, the run succeeds."""
    generate(fresh_database, scale=0.001, seed=2)
    run = run_dag(DAG_ID, fresh_database, target_database, tables=["Users"], verify="counts")
    states = task_states(run)
    assert str(run.state) == "success", states
    assert table_names(target_database) == ["Users"]
    assert states["posts_and_badges.replicate_Posts"] == "skipped"
    assert asset_uris(run) == [f"postgres://127.0.0.1:{target_database.split(':')[3].split('/')[0]}/"
                               f"{target_database.rsplit('/', 1)[1]}/public/Users"]  # fmt: skip


def asset_uris(dag_run) -> list[str]:
    """URIs of the asset events a run emitted (one per replicated table)."""
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == dag_run.run_id)).all()
        return sorted(event.asset.uri for event in events)


def test_missing_table_fails_before_any_data_moves(airflow_db, fresh_database, target_database):
    """A table named in `tables` that the source lacks fails discovery, naming it; nothing is created."""
    generate(fresh_database, scale=0.001, seed=2)
    run = run_dag(DAG_ID, fresh_database, target_database, tables=["Users", "NoSuchTable"])
    states = task_states(run)
    assert states["discover_tables"] == "failed"
    assert table_names(target_database) == []


def test_killed_copy_fails_the_task_and_its_retry_completes(airflow_db, pg_server_url, fresh_database, target_database):
    """pg_terminate_backend on the target's COPY: the task fails cleanly, the retry copies exactly, nothing left over."""
    from tests.integration.replication_helpers import QueryWatcher, task_attempts

    generate(fresh_database, scale=0.005, seed=12)
    killer = QueryWatcher(pg_server_url, target_database.rsplit("/", 1)[1], 'COPY "public"."Posts__staging"%')
    killer.start()
    try:
        run = run_dag(DAG_ID, fresh_database, target_database, retries=2, tables=["Posts"], verify="checksums")
    finally:
        killer.stop.set()
        killer.join(5)
    assert killer.caught is not None, "no COPY was caught running: nothing was tested"
    attempts = task_attempts(run)
    assert str(run.state) == "success", attempts
    assert attempts["posts_and_badges.replicate_Posts"] == ("success", 2)
    assert_exact_copy(fresh_database, target_database, tables=["Posts"])
