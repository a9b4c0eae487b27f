"""Verification against a real PostgreSQL: it names the rows that differ, and a failed check changes nothing."""

from __future__ import annotations

import pytest

from include.replication.load import replicate_table
from include.replication.plan import TableJob
from include.replication.postgres.source import PostgresSource
from include.replication.postgres.target import PostgresTarget
from include.replication.settings import LoadMode, NulPolicy, ReplicationSettings, VerifyMode
from include.replication.verify import VerificationFailed, verify_table
from include.stackoverflow.database import connect
from include.stackoverflow.generate import generate
from tests.integration.replication_helpers import content_hash, table_names


@pytest.fixture
def copied(fresh_database, target_database):
    """A small source and an exact copy of its Users table in the target."""
    generate(fresh_database, scale=0.002, seed=9)
    source, target = PostgresSource(connect(fresh_database)), PostgresTarget(connect(target_database))
    users = next(t for t in source.fetch_tables("public") if t.name == "Users")
    job = TableJob(users, source.map_columns(users), ReplicationSettings())
    replicate_table(job, source=source, target=target)
    yield source, target, job, target_database
    source.close()
    target.close()


def verify(copied_fixture):
    source, target, job, _ = copied_fixture
    return verify_table(mode=VerifyMode.CHECKSUMS, source=source, source_table=job.table, target=target,
                        target_table=job.target, columns=job.columns, nul_policy=NulPolicy.STRIP)  # fmt: skip


def test_exact_copy_verifies(copied):
    """An exact copy: equal counts, every bucket matches."""
    result = verify(copied)
    assert result.ok and result.checksum_match and result.buckets >= 1


def test_differences_are_located_by_key(copied):
    """A changed value, a missing row and an extra row are each named by key."""
    target = copied[1].conn
    ids = [r[0] for r in target.run('SELECT "Id" FROM "Users" WHERE "Id" > 0 ORDER BY "Id" LIMIT 2')]
    target.run('UPDATE "Users" SET "DisplayName" = "DisplayName" || \' \' WHERE "Id" = :i', i=ids[0])
    target.run('DELETE FROM "Users" WHERE "Id" = :i', i=ids[1])
    target.run('INSERT INTO "Users" OVERRIDING SYSTEM VALUE SELECT 9999999, "AboutMe", "Age", "CreationDate", '
               '"DisplayName", "DownVotes", "EmailHash", "LastAccessDate", "Location", "Reputation", "UpVotes", '
               '"Views", "WebsiteUrl", "AccountId" FROM "Users" WHERE "Id" = -1')  # fmt: skip
    result = verify(copied)
    assert not result.ok and result.checksum_match is False
    found = dict(result.differing_rows)
    assert found[f"Id={ids[0]}"] == "values differ"  # one trailing space is a difference
    assert found[f"Id={ids[1]}"] == "missing in target"
    assert found["Id=9999999"] == "extra in target"
    assert f"Id={ids[0]}: values differ" in result.describe()


def test_count_mismatch_is_still_located(copied):
    """When counts differ the buckets still say where: the deleted key is named."""
    target = copied[1].conn
    victim = target.run('SELECT max("Id") FROM "Users"')[0][0]
    target.run('DELETE FROM "Users" WHERE "Id" = :i', i=victim)
    result = verify(copied)
    assert result.target_rows == result.source_rows - 1
    assert (f"Id={victim}", "missing in target") in result.differing_rows


class DroppingReader(PostgresSource):
    """A faulty source reader that loses one row: what verification exists to catch."""

    def stream_rows(self, table, columns, sink, **kwargs):
        first = [True]

        def lossy(data: bytes) -> None:
            if first[0]:
                first[0] = False
                return
            sink(data)

        return super().stream_rows(table, columns, lossy, **kwargs)


def test_failed_verification_leaves_the_old_table(copied):
    """A copy that lost a row fails verification; the previous target table is untouched, no staging left."""
    source, target, job, target_url = copied
    before = content_hash(target_url, "Users")
    with pytest.raises(VerificationFailed, match="missing in target"):
        replicate_table(job, source=DroppingReader(source.conn), target=target)
    assert content_hash(target_url, "Users") == before
    assert table_names(target_url) == ["Users"]


def test_append_mode_adds_rows_and_checks_the_count(copied):
    """load_mode=append copies into the existing table in one transaction; counts are verified."""
    source, target, job, target_url = copied
    target.conn.run('DELETE FROM "Users"')
    appending = TableJob(job.table, job.columns, ReplicationSettings(load_mode=LoadMode.APPEND))
    report = replicate_table(appending, source=source, target=target)
    assert report.verification.ok
    assert content_hash(target_url, "Users")[0] == report.stats.rows
