"""A source written to while it is copied: one snapshot per table, or re-copies that converge without one.

The writes here happen at a fixed point, between a table's copy and its verification (the
``on_progress`` line that ends the copy), so each outcome is exact: with a snapshot the target
holds the source as it was before the writes; without one, the changed keys are re-copied and
the target holds the source as it is after them.
"""

from __future__ import annotations

import pytest

from include.replication.load import replicate_table
from include.replication.plan import PlanError, TableJob
from include.replication.postgres.source import PostgresSource
from include.replication.postgres.target import PostgresTarget
from include.replication.settings import LoadMode, ReadMode, ReplicationSettings, SnapshotMode, VerifyMode
from include.stackoverflow.database import connect
from include.stackoverflow.generate import generate
from tests.integration.replication_helpers import content_hash


def votes_job(source: PostgresSource, **settings) -> TableJob:
    table = next(t for t in source.fetch_tables("public") if t.name == "Votes")
    return TableJob(table, source.map_columns(table), ReplicationSettings(**settings))


def replicate_votes(source_url: str, target_url: str, on_progress, **settings):
    """Votes copied by the engine with ``settings``, over connections of its own; its report."""
    source, target = PostgresSource(connect(source_url)), PostgresTarget(connect(target_url))
    try:
        return replicate_table(votes_job(source, **settings), source=source, target=target, on_progress=on_progress)
    finally:
        source.close()
        target.close()


def write_after_copy(url: str):
    """An ``on_progress`` that, once the copy's last line is said, updates, deletes and inserts on the source."""
    done: list[int] = []

    def on_progress(message: str) -> None:
        if done or "rows copied into" not in message and "rows appended" not in message:
            return
        conn = connect(url)
        try:
            conn.run('UPDATE "Votes" SET "BountyAmount" = 99 WHERE "Id" % 97 = 0')
            done.append(conn.row_count)
            conn.run('DELETE FROM "Votes" WHERE "Id" % 89 = 0')
            done.append(conn.row_count)
            conn.run(
                'INSERT INTO "Votes" ("Id", "PostId", "UserId", "BountyAmount", "VoteTypeId", "CreationDate") '
                "OVERRIDING SYSTEM VALUE SELECT m + g, 1, NULL, NULL, 2, TIMESTAMP '2011-01-01' "
                'FROM (SELECT max("Id") AS m FROM "Votes") AS top, generate_series(1, 25) AS g'
            )
            done.append(conn.row_count)
        finally:
            conn.close()

    return on_progress, done


@pytest.fixture
def votes_source(fresh_database):
    generate(fresh_database, scale=0.002, seed=31)
    return fresh_database


@pytest.mark.parametrize("read_mode", ["copy", "rows"])
def test_snapshot_copy_is_the_source_before_the_writes(votes_source, target_database, read_mode):
    """Writes after the copy began do not fail the table: copy and verification see the snapshot."""
    before = content_hash(votes_source, "Votes")
    on_progress, done = write_after_copy(votes_source)
    report = replicate_votes(votes_source, target_database, on_progress, source_read_mode=ReadMode(read_mode))
    assert done and all(done)  # the writes happened, mid-table
    assert report.verification.ok and report.stats.recopied_keys == 0
    assert report.stats.snapshot.startswith("PostgreSQL snapshot ")
    assert content_hash(target_database, "Votes") == before != content_hash(votes_source, "Votes")


def test_without_a_snapshot_the_changed_keys_are_recopied(votes_source, target_database):
    """source_snapshot=off: the verification finds the writes, re-copies exactly those keys and proves the table."""
    on_progress, done = write_after_copy(votes_source)
    messages: list[str] = []

    def say(message: str) -> None:
        messages.append(message)
        on_progress(message)

    report = replicate_votes(votes_source, target_database, say, source_snapshot=SnapshotMode.OFF)
    updated, deleted, inserted = done
    assert content_hash(target_database, "Votes") == content_hash(votes_source, "Votes")
    assert report.verification.ok
    assert report.stats.recopied_keys >= deleted + inserted  # an updated key may also have been deleted
    assert report.stats.recopied_keys <= updated + deleted + inserted
    assert report.stats.snapshot == "no snapshot (source_snapshot=off)"
    assert any("re-copying the ranges that differ" in m for m in messages)


def test_append_in_a_snapshot_counts_what_it_read(votes_source, target_database):
    """append: the source count is taken in the same snapshot as the rows, so writes in between do not fail it."""
    on_progress, done = write_after_copy(votes_source)
    report = replicate_votes(votes_source, target_database, on_progress, load_mode=LoadMode.APPEND,
                             verify=VerifyMode.COUNTS)  # fmt: skip
    assert done and report.verification.ok


def test_require_fails_before_data_moves_when_the_source_has_none(votes_source, target_database):
    """source_snapshot=require with a source that gives none: PlanError naming why, the target untouched.

    ``NoSnapshot`` stands in for a SQL Server database without ALLOW_SNAPSHOT_ISOLATION, which
    cannot exist here: Babelfish reports every database as allowing it.
    """

    class NoSnapshot(PostgresSource):
        def snapshot(self):  # a stand-in for a SQL Server database without ALLOW_SNAPSHOT_ISOLATION
            from contextlib import nullcontext

            from include.replication.interfaces import Snapshot

            return nullcontext(Snapshot(False, "no snapshot: database 'x' does not allow snapshot isolation"))

    source, target = NoSnapshot(connect(votes_source)), PostgresTarget(connect(target_database))
    try:
        with pytest.raises(PlanError, match="source_snapshot=require, but no snapshot: database 'x'"):
            replicate_table(votes_job(source, source_snapshot=SnapshotMode.REQUIRE), source=source, target=target)
        assert not target.exists(votes_job(source).target)
    finally:
        source.close()
        target.close()
