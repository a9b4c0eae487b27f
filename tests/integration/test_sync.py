"""``load_mode=sync`` with the streaming DAG: only the keys that differ are re-copied, and the result is exact.

The acceptance of issue [K]: a scale-0.01 source, a full run, then 1% of Votes updated, 0.1%
deleted and 1,000 rows inserted at the end. The sync run re-copies under 5% of Votes' rows,
nothing for the tables that did not change, and leaves the target equal to the source, checked
by ``assert_exact_copy`` (its own queries, not the DAG's verification).
"""

from __future__ import annotations

import pytest

from include.stackoverflow.database import connect
from include.stackoverflow.generate import generate
from tests.integration.replication_helpers import NINE, assert_exact_copy, content_hash, run_dag, task_states

DAG_ID = "replicate_stackoverflow_to_postgres_parallel"


def summary_of(run) -> dict[str, dict]:
    """``{table name: stats}`` from the run's summary."""
    summary = run.get_task_instance("summarize").xcom_pull(task_ids="summarize")
    return {t["stats"]["table"].split(".", 1)[1]: t["stats"] for t in summary["tables"]}


def change_votes(url: str, *, update_share: float, delete_share: float, inserts: int) -> dict[str, int]:
    """Update and delete rows spread over the whole key space; insert new rows past the end. Returns the counts."""
    conn = connect(url)
    try:
        total = conn.run('SELECT count(*) FROM "Votes"')[0][0]
        conn.run(
            'DELETE FROM "Votes" WHERE "Id" IN (SELECT "Id" FROM "Votes" ORDER BY md5("Id"::text || \'d\') LIMIT :n)',
            n=round(total * delete_share),
        )
        deleted = conn.row_count
        conn.run(  # after the deletes: no key is both deleted and updated
            'UPDATE "Votes" SET "BountyAmount" = coalesce("BountyAmount", 0) + 7 '
            'WHERE "Id" IN (SELECT "Id" FROM "Votes" ORDER BY md5("Id"::text) LIMIT :n)',
            n=round(total * update_share),
        )
        updated = conn.row_count
        conn.run(
            'INSERT INTO "Votes" ("Id", "PostId", "UserId", "BountyAmount", "VoteTypeId", "CreationDate") '
            "OVERRIDING SYSTEM VALUE SELECT m + g, 1, NULL, NULL, 2, TIMESTAMP '2011-01-01' "
            'FROM (SELECT max("Id") AS m FROM "Votes") AS top, generate_series(1, :n) AS g',
            n=inserts,
        )
        return {"total": total, "updated": updated, "deleted": deleted, "inserted": conn.row_count}
    finally:
        conn.close()


def test_sync_recopies_only_what_changed(airflow_db, fresh_database, target_database):
    """Acceptance: < 5% of Votes re-copied, nothing for unchanged tables, target exactly the source."""
    generate(fresh_database, scale=0.01, seed=21)
    full = run_dag(DAG_ID, fresh_database, target_database)
    assert str(full.state) == "success", task_states(full)
    unchanged = {t: content_hash(target_database, t) for t in NINE if t != "Votes"}

    changes = change_votes(fresh_database, update_share=0.01, delete_share=0.001, inserts=1_000)
    assert changes["updated"] and changes["deleted"] and changes["inserted"] == 1_000
    sync = run_dag(DAG_ID, fresh_database, target_database, load_mode="sync")
    assert str(sync.state) == "success", task_states(sync)

    assert_exact_copy(fresh_database, target_database)  # independent of the DAG's own check
    stats = summary_of(sync)
    votes = stats["Votes"]
    touched = changes["updated"] + changes["deleted"] + changes["inserted"]
    assert votes["recopied_keys"] == touched  # exactly the keys that changed
    assert votes["recopied_rows"] == changes["updated"] + changes["inserted"]  # the deleted ones are gone
    assert votes["recopied_rows"] < 0.05 * votes["compared_rows"]
    for table in unchanged:
        assert stats[table]["recopied_keys"] == stats[table]["rows"] == 0, table
        assert content_hash(target_database, table) == unchanged[table], table


def test_sync_with_nothing_changed_copies_nothing(airflow_db, fresh_database, target_database):
    """A second sync right after the first finds every range equal and re-copies no row."""
    generate(fresh_database, scale=0.002, seed=22)
    assert str(run_dag(DAG_ID, fresh_database, target_database).state) == "success"
    sync = run_dag(DAG_ID, fresh_database, target_database, load_mode="sync")
    assert str(sync.state) == "success", task_states(sync)
    assert all(s["rows"] == 0 and s["recopied_keys"] == 0 for s in summary_of(sync).values())
    assert_exact_copy(fresh_database, target_database)


@pytest.mark.parametrize("change", ["missing table", "other columns"])
def test_sync_replaces_a_table_it_cannot_sync_and_says_why(airflow_db, fresh_database, target_database, change):
    """A target table that is missing, or has other columns than the source's, is replaced whole; the note says why."""
    generate(fresh_database, scale=0.002, seed=23)
    assert str(run_dag(DAG_ID, fresh_database, target_database).state) == "success"
    conn = connect(target_database)
    try:
        if change == "missing table":
            conn.run('DROP TABLE "Badges"')
        else:
            conn.run('ALTER TABLE "Badges" ADD COLUMN "Extra" integer')
    finally:
        conn.close()
    sync = run_dag(DAG_ID, fresh_database, target_database, load_mode="sync")
    assert str(sync.state) == "success", task_states(sync)
    badges = summary_of(sync)["Badges"]
    expected = "does not exist on the target" if change == "missing table" else "has other columns"
    assert expected in badges["note"]
    assert badges["rows"] == content_hash(fresh_database, "Badges")[0]
    assert_exact_copy(fresh_database, target_database)
