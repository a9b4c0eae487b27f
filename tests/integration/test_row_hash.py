"""The PostgreSQL row hash (ADR 0012) against a real PostgreSQL: chosen only where both sides can agree, and strict.

Between two PostgreSQL databases with the same column types, verification compares
``hash_record_extended`` of each row, seeded with its key, instead of the canonical text's MD5.
These tests copy a table holding every type that form covers, then change the target in the
ways a cheaper hash could miss (NULL against a zero or an empty string, two rows trading a value,
-0.0 against 0.0, a trailing space), and check that each is found and named by key.
"""

from __future__ import annotations

import pytest

from include.replication.load import replicate_table
from include.replication.models import SourceColumn, SourceTable, TargetColumn
from include.replication.plan import TableJob
from include.replication.postgres.checksums import ROW_HASH, native_row_hash
from include.replication.postgres.dialect import qualified
from include.replication.postgres.source import PostgresSource
from include.replication.postgres.target import PostgresTarget
from include.replication.settings import NulPolicy, ReplicationSettings, VerifyMode
from include.replication.verify import CANONICAL, verify_table
from include.stackoverflow.database import connect

EVERY_TYPE = """
CREATE TABLE "Kinds" (
    "Id" integer PRIMARY KEY, "Name" text, "Code" varchar(20), "Pad" char(4), "Ratio" double precision,
    "Score" real, "Amount" numeric(12,3), "At" timestamp, "AtZone" timestamptz, "Flag" boolean, "Blob" bytea,
    "Uid" uuid, "Doc" jsonb, "Day" date, "Clock" time, "Big" bigint, "Small" smallint
)"""
ROWS = """
INSERT INTO "Kinds" SELECT i, 'name ' || i, 'c' || i, 'p', i / 7.0, i / 3.0, i * 1.125, TIMESTAMP '2010-01-01' +
    i * INTERVAL '1 second', TIMESTAMPTZ '2010-01-01 00:00+00' + i * INTERVAL '1 minute', i % 2 = 0,
    int4send(i), md5(i::text)::uuid, jsonb_build_object('i', i), DATE '2010-01-01' + i, TIME '00:00' +
    i * INTERVAL '1 second', i * 1000000000::bigint, i % 100
FROM generate_series(1, 2000) AS i;
INSERT INTO "Kinds" ("Id") VALUES (5000), (5001);  -- every nullable column NULL
INSERT INTO "Kinds" ("Id", "Name", "Code", "Ratio", "Score", "Amount", "Big") VALUES (5002, '', '', 0, 0, 0, 0),
    (5003, 'x', 'x', 0, 0, 0, 0)"""


@pytest.fixture
def copied(fresh_database, target_database):
    """The table above, copied into the target and verified there; yields source, target and the job."""
    setup = connect(fresh_database)
    setup.run(EVERY_TYPE)
    for statement in ROWS.split(";"):
        setup.run(statement)
    setup.close()
    source, target = PostgresSource(connect(fresh_database)), PostgresTarget(connect(target_database))
    kinds = next(t for t in source.fetch_tables("public") if t.name == "Kinds")
    job = TableJob(kinds, source.map_columns(kinds), ReplicationSettings())
    report = replicate_table(job, source=source, target=target)
    assert report.verification.ok and report.verification.hash_form.startswith(ROW_HASH + "/")
    yield source, target, job
    source.close()
    target.close()


def verify(source, target, job, columns=None):
    return verify_table(mode=VerifyMode.CHECKSUMS, source=source, source_table=job.table, target=target,
                        target_table=job.target, columns=columns or job.columns, nul_policy=NulPolicy.STRIP)  # fmt: skip


CHANGES = {
    "NULL becomes 0.0": ('UPDATE "Kinds" SET "Ratio" = 0 WHERE "Id" = 5000', [5000]),
    "NULL becomes an empty string": ('UPDATE "Kinds" SET "Name" = \'\' WHERE "Id" = 5000', [5000]),
    "an empty string becomes NULL": ('UPDATE "Kinds" SET "Code" = NULL WHERE "Id" = 5002', [5002]),
    "0 becomes NULL": ('UPDATE "Kinds" SET "Big" = NULL WHERE "Id" = 5002', [5002]),
    "0.0 becomes -0.0": ('UPDATE "Kinds" SET "Ratio" = \'-0\' WHERE "Id" = 5002', [5002]),
    "real 0 becomes -0": ('UPDATE "Kinds" SET "Score" = \'-0\' WHERE "Id" = 5003', [5003]),
    "two rows trade a value": (
        'UPDATE "Kinds" k SET "Name" = o."Name" FROM "Kinds" o WHERE (k."Id", o."Id") IN ((10, 11), (11, 10))',
        [10, 11],
    ),
    "two rows trade a whole row's values": (
        'UPDATE "Kinds" k SET "Name" = o."Name", "Code" = o."Code", "Ratio" = o."Ratio", "Score" = o."Score", '
        '"Amount" = o."Amount", "At" = o."At", "AtZone" = o."AtZone", "Flag" = o."Flag", "Blob" = o."Blob", '
        '"Uid" = o."Uid", "Doc" = o."Doc", "Day" = o."Day", "Clock" = o."Clock", "Big" = o."Big", '
        '"Small" = o."Small" FROM "Kinds" o WHERE (k."Id", o."Id") IN ((20, 21), (21, 20))',
        [20, 21],
    ),
    "a value moves to the next column": ('UPDATE "Kinds" SET "Code" = "Name", "Name" = NULL WHERE "Id" = 5003', [5003]),
    "a trailing space": ('UPDATE "Kinds" SET "Code" = "Code" || \' \' WHERE "Id" = 30', [30]),
    "a letter's case": ('UPDATE "Kinds" SET "Name" = upper("Name") WHERE "Id" = 31', [31]),
    "one microsecond": ('UPDATE "Kinds" SET "At" = "At" + INTERVAL \'1 microsecond\' WHERE "Id" = 32', [32]),
    "one bit of a float": ('UPDATE "Kinds" SET "Ratio" = "Ratio" + 1e-15 WHERE "Id" = 33', [33]),
    "a byte": ('UPDATE "Kinds" SET "Blob" = "Blob" || \'\\x00\'::bytea WHERE "Id" = 34', [34]),
    "a JSON value": ('UPDATE "Kinds" SET "Doc" = \'{"i": "35"}\' WHERE "Id" = 35', [35]),
    "a boolean": ('UPDATE "Kinds" SET "Flag" = NOT "Flag" WHERE "Id" = 36', [36]),
}


@pytest.mark.parametrize("change", CHANGES, ids=list(CHANGES))
def test_the_row_hash_finds_each_change(copied, change):
    """Each change to the copy fails its verification in the row hash form, naming the changed keys."""
    source, target, job = copied
    sql, keys = CHANGES[change]
    target.conn.run(sql)
    result = verify(source, target, job)
    assert result.hash_form.startswith(ROW_HASH) and result.checksum_match is False
    assert {key for key, _ in result.differing_rows} == {f"Id={k}" for k in keys}


def test_a_trade_between_two_rows_changes_the_sum_of_their_hashes(copied):
    """Why the row hash is seeded with the key: unseeded, two rows trading a value keep the sum of their hashes.

    PostgreSQL combines a row's column hashes linearly (mod 2^64), so only a carry past the 56
    bits the buckets keep could give such a trade away.
    """
    _, target, job = copied
    seeded = native_row_hash(job.columns, "Id")
    unseeded = seeded.removesuffix('"Id"::int8)') + "0)"
    assert unseeded != seeded

    def sums() -> list[int]:
        m = 2**64
        return [
            target.conn.run(f'SELECT ((sum({h}::numeric) % {m}) + {m}) % {m} FROM "Kinds" WHERE "Id" IN (10, 11)')[0][0]
            for h in (seeded, unseeded)
        ]

    before = sums()
    target.conn.run(CHANGES["two rows trade a value"][0])
    after = sums()
    assert after[1] == before[1] and after[0] != before[0]


def test_the_canonical_form_where_a_side_cannot_hash_rows(copied):
    """A json column, a table without an integer key, or a source type other than the copy's: the canonical form."""
    source, target, job = copied
    assert source.hash_forms(job.table, [TargetColumn("Doc", "json", True)]) == (CANONICAL,)
    widened = [TargetColumn(c.name, "bigint" if c.name == "Small" else c.data_type, c.nullable) for c in job.columns]
    assert source.hash_forms(job.table, widened) == (CANONICAL,)
    assert target.hash_forms(job.target, widened)[0].startswith(ROW_HASH)  # the target holds what it holds
    keyless = SourceTable("public", "Kinds", (SourceColumn("Name", "text", True),), primary_key=())
    result = verify_table(mode=VerifyMode.CHECKSUMS, source=source, source_table=keyless, target=target,
                          target_table=job.target, columns=[TargetColumn("Name", "text", True)],
                          nul_policy=NulPolicy.STRIP)  # fmt: skip
    assert result.ok and result.hash_form == CANONICAL


def test_both_forms_agree_on_an_exact_copy_and_on_a_difference(copied):
    """The row hash and the canonical form find the same differing rows."""
    source, target, job = copied
    target.conn.run('UPDATE "Kinds" SET "Amount" = "Amount" + 0.001 WHERE "Id" IN (40, 1999)')
    native = verify(source, target, job)
    canonical = verify(CanonicalOnly(source), CanonicalOnly(target), job)
    assert canonical.hash_form == CANONICAL and native.hash_form.startswith(ROW_HASH)
    assert (
        native.differing_rows == canonical.differing_rows == (("Id=40", "values differ"), ("Id=1999", "values differ"))
    )


class CanonicalOnly:
    """A side that offers only the canonical form, over a real PostgreSQL side (what a SQL Server peer amounts to)."""

    def __init__(self, side):
        self.side = side

    def hash_forms(self, table, columns):
        return (CANONICAL,)

    def __getattr__(self, name):
        return getattr(self.side, name)


@pytest.mark.parametrize("form", ["row hash", CANONICAL])
def test_bucket_sums_group_in_a_hash_table_and_leave_the_session_as_it_was(copied, form):
    """The planner counts as many buckets as keys and would sort whole rows to group them; the query turns sorting
    off for itself only, inside a transaction and outside one. The plan is the server's EXPLAIN of the bucket query,
    asked on the same connection just before it runs."""
    source, target, job = copied
    chosen = source.hash_forms(job.table, job.columns)[0] if form == "row hash" else CANONICAL
    for side, table in ((source, job.table), (target, job.target)):
        run, plans = side.conn.run, []

        def explaining(sql, run=run, plans=plans, **params):
            if "GROUP BY" in sql:
                plans.append("\n".join(row[0] for row in run("EXPLAIN " + sql, **params)))
            return run(sql, **params)

        side.conn.run = explaining
        try:
            run("SET enable_sort = on")
            run("SET work_mem = '64kB'")  # what makes Posts' 3.7M estimated groups too many to hash, at this size
            run(f"ANALYZE {qualified(table)}")
            sums = side.bucket_checksums(table, job.columns, key="Id", width=100, nul_policy=NulPolicy.STRIP,
                                         form=chosen)  # fmt: skip
            assert run("SHOW enable_sort") == [["on"]]
            run("BEGIN")
            side.bucket_checksums(table, job.columns, key="Id", width=100, nul_policy=NulPolicy.STRIP, form=chosen)
            assert run("SHOW enable_sort") == [["on"]]
            run("ROLLBACK")
        finally:
            side.conn.run = run
            run("RESET work_mem")
        assert sum(s.rows for s in sums.values()) == 2004
        assert len(plans) == 2 and all("HashAggregate" in plan and "Sort" not in plan for plan in plans), plans
