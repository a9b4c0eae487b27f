"""Foreign keys on a PostgreSQL target, end to end with dag.test(): created after the loads, dangling rows reported.

The generated source has StackOverflow's dangling references (votes and comments of posts that do
not exist, ...); every expected count here is computed from the source itself, independently of
the engine.
"""

from __future__ import annotations

import pytest

from include.replication.foreign_keys import SAMPLE_KEYS, STACKOVERFLOW_REFERENCES, ForeignKeyReport, Status
from include.stackoverflow.database import connect
from include.stackoverflow.generate import generate
from tests.integration.replication_helpers import NINE, assert_exact_copy, run_dag, task_states

DAG_ID = "replicate_stackoverflow_to_postgres_parallel"
BULK = "replicate_stackoverflow_to_postgres_bulk_parallel"
SCALE, SEED = 0.002, 21


def target_keys(url: str) -> dict[str, bool]:
    """``{constraint name: validated}`` of every foreign key in the target's public schema."""
    conn = connect(url)
    try:
        rows = conn.run(
            "SELECT conname::text, convalidated FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
            "WHERE contype = 'f' AND nspname = 'public'"
        )
        return {name: validated for name, validated in rows}
    finally:
        conn.close()


def dangling(url: str, table: str, column: str, referenced: str) -> tuple[int, list[int]]:
    """Rows of ``table`` whose ``column`` is set and matches no ``referenced.Id``: how many, the first ids."""
    conn = connect(url)
    try:
        where = (f'FROM "{table}" c WHERE c."{column}" IS NOT NULL '
                 f'AND NOT EXISTS (SELECT 1 FROM "{referenced}" p WHERE p."Id" = c."{column}")')  # fmt: skip
        count = conn.run(f"SELECT count(*) {where}")[0][0]
        first = [r[0] for r in conn.run(f'SELECT c."Id" {where} ORDER BY c."Id" LIMIT {SAMPLE_KEYS}')]
        return count, first
    finally:
        conn.close()


def keys_report(run) -> ForeignKeyReport:
    summary = run.get_task_instance("summarize").xcom_pull(task_ids="summarize")
    return ForeignKeyReport.from_dict(summary["foreign_keys"])


@pytest.fixture
def source(fresh_database):
    generate(fresh_database, scale=SCALE, seed=SEED)
    return fresh_database


def test_off_creates_none(airflow_db, source, target_database):
    """The default: no foreign key on the target, the key task touches nothing, the copy is exact."""
    run = run_dag(DAG_ID, source, target_database, verify="counts")
    assert str(run.state) == "success", task_states(run)
    assert target_keys(target_database) == {}
    report = keys_report(run)
    assert (report.mode, report.released, report.outcomes) == ("off", (), ())


def test_stackoverflow_keys_validated_or_reported_with_samples(airflow_db, source, target_database):
    """Each StackOverflow reference becomes a foreign key: validated where every row matches, else NOT VALID with
    its dangling rows counted and the first keys named, as the source itself says; the run succeeds."""
    run = run_dag(DAG_ID, source, target_database, verify="counts", foreign_keys="stackoverflow")
    assert str(run.state) == "success", task_states(run)
    assert_exact_copy(source, target_database)
    outcomes = {o.reference.name: o for o in keys_report(run).outcomes}
    assert set(outcomes) == {f"FK_{t}_{c}" for t, c, _ in STACKOVERFLOW_REFERENCES}
    on_target = target_keys(target_database)
    assert set(on_target) == set(outcomes)
    statuses = set()
    for table, column, referenced in STACKOVERFLOW_REFERENCES:
        outcome = outcomes[f"FK_{table}_{column}"]
        count, first = dangling(source, table, column, referenced)
        statuses.add(outcome.status)
        assert outcome.dangling_rows == count, outcome
        if count:
            assert outcome.status == Status.NOT_VALID and on_target[outcome.reference.name] is False
            assert [int(s.split(" ")[1]) for s in outcome.samples] == first
            assert (
                outcome.samples[0]
                == f"{table}.Id {first[0]} ({column} {sample_value(source, table, column, first[0])})"
            )
        else:
            assert outcome.status == Status.VALIDATED and on_target[outcome.reference.name] is True
    assert statuses == {Status.VALIDATED, Status.NOT_VALID}  # the data has both kinds


def sample_value(url: str, table: str, column: str, key: int) -> int:
    conn = connect(url)
    try:
        return conn.run(f'SELECT "{column}" FROM "{table}" WHERE "Id" = :k', k=key)[0][0]
    finally:
        conn.close()


def test_rerun_with_replace_while_keys_are_present(airflow_db, source, target_database):
    """Posts is referenced by Votes, Comments, PostLinks and itself: a second run drops those keys, swaps every
    table in, and puts them back (reported as dropped and put back); the same keys, the same validity."""
    first = run_dag(DAG_ID, source, target_database, verify="counts", foreign_keys="stackoverflow")
    assert str(first.state) == "success", task_states(first)
    before = target_keys(target_database)
    second = run_dag(DAG_ID, source, target_database, verify="counts", foreign_keys="stackoverflow")
    assert str(second.state) == "success", task_states(second)
    assert target_keys(target_database) == before
    report = keys_report(second)
    assert {r.name for r in report.released} == set(before)
    assert all(o.origin == "restored" for o in report.outcomes)
    assert_exact_copy(source, target_database)


def test_only_some_tables_and_then_off_keep_what_the_target_had(airflow_db, source, target_database):
    """tables=[Posts] with keys from an earlier run: the keys from Votes, Comments and PostLinks to Posts are
    dropped for the swap and put back; a later run with foreign_keys=off puts back what it dropped, creates nothing."""
    assert (
        str(run_dag(DAG_ID, source, target_database, verify="counts", foreign_keys="stackoverflow").state) == "success"
    )
    before = target_keys(target_database)
    posts_only = run_dag(DAG_ID, source, target_database, verify="counts", tables=["Posts"], foreign_keys="off")
    assert str(posts_only.state) == "success", task_states(posts_only)
    report = keys_report(posts_only)
    touching_posts = {f"FK_{t}_{c}" for t, c, r in STACKOVERFLOW_REFERENCES if "Posts" in (t, r)}
    assert {r.name for r in report.released} == touching_posts
    assert target_keys(target_database) == before


def test_sync_rerun_keeps_the_keys(airflow_db, source, target_database):
    """load_mode=sync after a run with keys: nothing to re-copy, the keys released and put back, the run succeeds."""
    assert (
        str(run_dag(DAG_ID, source, target_database, verify="counts", foreign_keys="stackoverflow").state) == "success"
    )
    before = target_keys(target_database)
    sync = run_dag(DAG_ID, source, target_database, load_mode="sync", foreign_keys="stackoverflow")
    assert str(sync.state) == "success", task_states(sync)
    assert target_keys(target_database) == before


def test_declared_keys_with_source(airflow_db, fresh_database, target_database):
    """foreign_keys=source: a key the source declares (an extra table's, to Posts) is created and validated;
    StackOverflow's undeclared references are not."""
    generate(fresh_database, scale=0.001, seed=2)
    conn = connect(fresh_database)
    conn.run('CREATE TABLE "Reviews" ("Id" integer PRIMARY KEY, "PostId" integer CONSTRAINT "Reviews_PostId_fkey" '
             'REFERENCES "Posts" ("Id"))')  # fmt: skip
    conn.run('INSERT INTO "Reviews" SELECT g, (SELECT min("Id") FROM "Posts") FROM generate_series(1, 50) g')
    conn.close()
    run = run_dag(DAG_ID, fresh_database, target_database, verify="counts", foreign_keys="source")
    assert str(run.state) == "success", task_states(run)
    assert target_keys(target_database) == {"Reviews_PostId_fkey": True}


def test_bulk_dag_creates_the_keys_after_its_swaps(airflow_db, source, target_database):
    """The bulk DAG: the same keys after every table is swapped in, twice in a row (the second run replaces them)."""
    for _ in range(2):
        run = run_dag(
            BULK, source, target_database, verify="counts", foreign_keys="stackoverflow", partition_rows=2_000
        )
        assert str(run.state) == "success", task_states(run)
    on_target = target_keys(target_database)
    assert set(on_target) == {f"FK_{t}_{c}" for t, c, _ in STACKOVERFLOW_REFERENCES}
    assert on_target["FK_Posts_PostTypeId"] is True
    assert sorted(NINE)  # the nine tables were all there to reference
