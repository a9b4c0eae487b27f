"""Verification against a real PostgreSQL: it names the rows that differ, and a failed check changes nothing."""

from __future__ import annotations

import struct

import pytest

from include.replication.load import replicate_table
from include.replication.models import SourceColumn, SourceTable, TableName, TargetColumn
from include.replication.mssql import checksums
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


def test_checksums_finished_by_the_client_equal_postgresql_s(fresh_database):
    """The client-side half of the contract (SQL Server 2016/2017, Babelfish) against PostgreSQL's own SQL.

    Stand-in for SQL Server (none runs in CI): the canonical values a SQL Server returns for the
    client to finish (``mssql/checksums.py``: text as nvarchar with NUL, char(n) padded, bytes and
    float bits as binary, other types as T-SQL's text) are written here by hand for the same rows
    PostgreSQL holds; the bucket sums must be PostgreSQL's, bucket for bucket.
    ``tests/mssql`` checks the server's half against a real TDS engine.
    """
    rows = [
        (1, "plain", "ab", b"\x00\xff", 0.1, "2010-07-31 23:59:59.997000", True),
        (2, "é 😀 \\ \t\r\n", "", b"", -0.0, "1753-01-01 00:00:00.000000", False),
        (3, None, None, None, None, None, None),
        (-7, "", "x", b"\\N", float("inf"), "9999-12-31 23:59:59.997000", True),
        (70_000, "  trailing  ", "pad", b"\x01", 1e-310, "2000-02-29 12:00:00.003000", False),
    ]
    conn = connect(fresh_database)
    try:
        conn.run(
            'CREATE TABLE "T" ("Id" integer PRIMARY KEY, "Txt" text, "Fix" char(4), "Bin" bytea, '
            '"Flt" double precision, "Ts" timestamp(3), "Flag" boolean)'
        )
        for row in rows:
            conn.run('INSERT INTO "T" VALUES (:a, :b, :c, :d, :e, CAST(:f AS timestamp), :g)', a=row[0], b=row[1],
                     c=row[2], d=row[3], e=row[4], f=row[5], g=row[6])  # fmt: skip
        target = PostgresTarget(conn)
        columns = tuple(
            TargetColumn(name, kind, True)
            for name, kind in [("Id", "integer"), ("Txt", "text"), ("Fix", "char(4)"), ("Bin", "bytea"),
                               ("Flt", "double precision"), ("Ts", "timestamp(3)"), ("Flag", "boolean")]
        )  # fmt: skip
        expected = target.bucket_checksums(
            TableName("public", "T"), columns, key="Id", width=3, nul_policy=NulPolicy.STRIP
        )
    finally:
        conn.close()
    table = SourceTable(
        "dbo",
        "T",
        (
            SourceColumn("Id", "int", False),
            SourceColumn("Txt", "nvarchar", True, char_length=-1),
            SourceColumn("Fix", "nchar", True, char_length=4),
            SourceColumn("Bin", "varbinary", True, char_length=-1),
            SourceColumn("Flt", "float", True, precision=53),
            SourceColumn("Ts", "datetime", True),
            SourceColumn("Flag", "bit", True),
        ),
        primary_key=("Id",),
    )
    # what SQL Server returns per row for canonical_values_sql: the key, then each column's value
    served = [
        (
            key,
            None if key is None else str(key),
            None if text is None else text + "\x00",  # NUL stripped by the client under nul_policy=strip
            None if fixed is None else fixed.ljust(4),
            binary,
            None if number is None else struct.pack(">d", number),
            stamp and stamp[:23] + "000",
            None if flag is None else ("t" if flag else "f"),
        )
        for key, text, fixed, binary, number, stamp, flag in rows
    ]
    finish = checksums.finishers(table, table.columns, NulPolicy.STRIP)
    assert checksums.bucket_sums(served, finish, width=3, keyed=True) == expected
