"""The bulk DAG end to end with dag.test(): partitions staged on a filesystem, loaded, verified, cleaned up."""

from __future__ import annotations

import pytest

from include.stackoverflow.database import connect
from include.stackoverflow.generate import generate
from include.stackoverflow.load_dump import load_dump
from tests.conftest import database_url, require_stackexchange_dir, stackexchange_sites
from tests.integration.replication_helpers import (
    NINE,
    QueryWatcher,
    assert_exact_copy,
    run_dag,
    table_names,
    task_attempts,
    task_states,
)

DAG_ID = "replicate_stackoverflow_to_postgres_bulk_parallel"


@pytest.fixture(scope="module")
def source_005(pg_server_url):
    """A scale-0.05 source (966k rows), shared read-only by this module's tests."""
    admin = connect(pg_server_url)
    admin.run("DROP DATABASE IF EXISTS t_bulk_source WITH (FORCE)")
    admin.run("CREATE DATABASE t_bulk_source")
    url = database_url(pg_server_url, "t_bulk_source")
    generate(url, scale=0.05, seed=6)
    yield url
    admin.run("DROP DATABASE IF EXISTS t_bulk_source WITH (FORCE)")
    admin.close()


def staged_files(root) -> list:
    return [p for p in root.rglob("*") if p.is_file()]


def test_partitioned_copy_is_exact_and_cleans_up(airflow_db, source_005, target_database, tmp_path):
    """partition_rows=20000, verify=checksums: exact tables, many partitions, no staged file left."""
    staging = tmp_path / "staging"
    run = run_dag(DAG_ID, source_005, target_database, partition_rows=20_000, verify="checksums",
                  staging_url=staging.as_uri())  # fmt: skip
    states = task_states(run)
    assert str(run.state) == "success", states
    loads = [t for t in states if t.startswith("copy_partition.load_partition[")]
    assert len(loads) > 40  # Votes alone is ~25 partitions at this scale
    assert_exact_copy(source_005, target_database)
    assert staged_files(staging) == []


def test_twice_in_a_row_gives_the_same_tables(airflow_db, source_005, target_database, tmp_path):
    """A second run replaces the tables: same content, no duplicates, no staging tables left."""
    for _ in range(2):
        run = run_dag(DAG_ID, source_005, target_database, partition_rows=150_000, verify="checksums",
                      staging_url=(tmp_path / "s").as_uri())  # fmt: skip
        assert str(run.state) == "success"
    assert_exact_copy(source_005, target_database)
    assert sorted(table_names(target_database)) == sorted(NINE)


def test_staging_on_a_second_filesystem_path(airflow_db, source_005, target_database, tmp_path_factory):
    """Any ObjectStoragePath URL works the same: here a second folder, given as a file:// URL."""
    other = tmp_path_factory.mktemp("other-volume") / "nested" / "prefix"
    run = run_dag(DAG_ID, source_005, target_database, tables=["Votes", "Users"], partition_rows=30_000,
                  verify="checksums", staging_url=other.as_uri())  # fmt: skip
    assert str(run.state) == "success", task_states(run)
    assert_exact_copy(source_005, target_database, tables=["Votes", "Users"])
    assert not other.exists() or staged_files(other) == []


def test_killed_partition_is_retried_alone(airflow_db, pg_server_url, source_005, target_database, tmp_path):
    """pg_terminate_backend on one partition's COPY: that task fails, its retry reloads only its range, all verifies."""
    killer = QueryWatcher(pg_server_url, target_database.rsplit("/", 1)[1], 'COPY "public"."Posts__bulk__staging"%')
    killer.start()
    try:
        run = run_dag(DAG_ID, source_005, target_database, retries=2, tables=["Posts"], partition_rows=20_000,
                      verify="checksums", staging_url=(tmp_path / "s").as_uri())  # fmt: skip
    finally:
        killer.stop.set()
        killer.join(5)
    assert killer.caught is not None, "no COPY was caught running: nothing was tested"
    attempts = task_attempts(run)
    assert str(run.state) == "success", attempts
    loads = {t: a for t, a in attempts.items() if t.startswith("copy_partition.load_partition[")}
    retried = [t for t, (_, tries) in loads.items() if tries > 1]
    assert len(retried) == 1, loads  # only the killed partition ran again
    assert all(state == "success" for state, _ in loads.values())
    assert_exact_copy(source_005, target_database, tables=["Posts"])


@pytest.mark.parametrize("site", stackexchange_sites(), ids=lambda p: p.name)
def test_real_dump_partitioned_copy_is_exact(airflow_db, fresh_database, target_database, site, tmp_path):
    """Every real dump, loaded as a source, copies exactly through 1,000-row partitions of its sparse ids."""
    require_stackexchange_dir()
    load_dump(site, fresh_database)
    run = run_dag(DAG_ID, fresh_database, target_database, partition_rows=1_000, verify="checksums",
                  staging_url=(tmp_path / "s").as_uri())  # fmt: skip
    assert str(run.state) == "success", task_states(run)
    assert_exact_copy(fresh_database, target_database)
