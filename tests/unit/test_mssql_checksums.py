"""Verification SQL on a SQL Server source, and every T-SQL statement the dialect can send.

SQL Server cannot run here: statements are captured by a stand-in connection, passed through
pymssql's own parameter substitution, and parsed as T-SQL by sqlglot; the canonical text of each
type is pinned expression by expression against the verification contract in ``verify.py``.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest

from include.replication.models import KeyRange, SourceColumn, SourceTable
from include.replication.mssql.capabilities import SQL_SERVER_2019, Capabilities
from include.replication.mssql.catalog import CATALOG_SQL
from include.replication.mssql.checksums import canonical_text
from include.replication.mssql.source import SqlServerSource
from include.replication.mssql.types import SQLSERVER_TYPES, map_table
from include.replication.settings import NulPolicy
from include.replication.verify import CANONICAL as CANONICAL_FORM
from include.replication.verify import BucketSum
from tests.conftest import dev_package
from tests.unit.mssql_fakes import FakeConnection, wire_sql
from tests.unit.test_mssql_source import time_sql, timestamp_sql, utc_sql

_SHAPE = {"char": {"char_length": 10}, "nchar": {"char_length": 10}, "varchar": {"char_length": 50},
          "nvarchar": {"char_length": -1}, "binary": {"char_length": 16}, "varbinary": {"char_length": -1},
          "decimal": {"precision": 18, "scale": 4}, "numeric": {"precision": 38, "scale": 0},
          "float": {"precision": 53}, "real": {"precision": 24}, "time": {"scale": 7}, "datetime2": {"scale": 3},
          "datetimeoffset": {"scale": 7}}  # fmt: skip
EVERY_TYPE = SourceTable(
    "dbo",
    "Every Type]s",  # an identifier that needs its bracket doubled
    (SourceColumn("Id", "bigint", False, identity=True),)
    + tuple(SourceColumn(f"{kind} col", kind, True, **_SHAPE.get(kind, {})) for kind in SQLSERVER_TYPES),
    primary_key=("Id",),
)
COLUMNS = map_table(EVERY_TYPE)
STRIP, FAIL = NulPolicy.STRIP, NulPolicy.FAIL
# What Babelfish answers to the capability probe (and, but for the histogram, SQL Server 2016/2017)
BABELFISH = Capabilities(utf8_collation=False, hex_style=False, stats_histogram=False, holds_nul=False)


def answer(sql: str, params) -> list[tuple]:
    if sql.startswith("SELECT COUNT_BIG(*)"):
        return [(0,)]
    if sql.startswith("SELECT MIN("):
        return [(None, None)]
    return []


def every_statement(capabilities: Capabilities = SQL_SERVER_2019) -> list[tuple[str, dict | None]]:
    """Run every source method the engine calls, in every variant, and return what reached the connection."""
    conn = FakeConnection(answer)
    source = SqlServerSource(conn, capabilities)
    source.fetch_tables("dbo")
    ranges = [None, KeyRange("Id", 1, 50_001), KeyRange("Id", None, 10), KeyRange("Id", -5, None)]
    for key_range in ranges:
        source.count_rows(EVERY_TYPE, key_range)
        source.stream_rows(EVERY_TYPE, COLUMNS, lambda data: None, nul_policy=STRIP, key_range=key_range)
        for key, policy in [("Id", STRIP), ("Id", FAIL), (None, STRIP)]:
            source.bucket_checksums(EVERY_TYPE, COLUMNS, key=key, width=50_000, nul_policy=policy, key_range=key_range)
    source.key_bounds(EVERY_TYPE, "Id")
    source.key_distribution(EVERY_TYPE, "Id")  # no histogram in the stand-in: the exact fallback runs too
    for policy in (STRIP, FAIL):
        source.row_hashes(EVERY_TYPE, COLUMNS, key_range=KeyRange("Id", -100, 3_000_000_000), nul_policy=policy)
    return conn.executed


def test_every_statement_covers_catalog_reads_and_checksums():
    statements = [sql for sql, _ in every_statement()]
    assert set(CATALOG_SQL.values()) <= set(statements)
    assert len(statements) == len(CATALOG_SQL) + 4 * 5 + 1 + 1 + 2


@pytest.mark.parametrize(("sql", "params"), every_statement() + every_statement(BABELFISH), ids=lambda v: None)
def test_every_statement_parses_as_tsql(sql, params):
    """Stand-in for SQL Server: the text pymssql would send (parameters substituted by pymssql) parses as T-SQL."""
    sent = wire_sql(sql, params)
    assert "%(" not in sent
    dev_package("sqlglot").parse_one(sent, read="tsql")


# Canonical text per SQL Server type, pinned: what PostgreSQL prints for the mapped target type.
CANONICAL = {
    "bit": "CASE WHEN t.[c] = 1 THEN 't' ELSE 'f' END",
    "tinyint": "CONVERT(varchar(20), t.[c])",
    "int": "CONVERT(varchar(20), t.[c])",
    "decimal": "CONVERT(varchar(41), t.[c])",
    "money": "CONVERT(varchar(41), CONVERT(decimal(19,4), t.[c]))",  # style 0 would print 2 digits
    "date": "CONVERT(varchar(10), t.[c], 23)",
    "datetime": "CONVERT(varchar(23), t.[c], 121) + '000'",
    "smalldatetime": "CONVERT(varchar(19), t.[c], 120) + '.000000'",
    "datetime2": timestamp_sql("t.[c]"),
    "time": time_sql("t.[c]"),
    "datetimeoffset": timestamp_sql(utc_sql("t.[c]")) + " + '+00'",
    "uniqueidentifier": "LOWER(CONVERT(varchar(36), t.[c]))",
    "varbinary": "LOWER(CONVERT(varchar(max), CONVERT(varbinary(max), t.[c]), 2))",
    "nvarchar": "CAST(CONVERT(nvarchar(max), t.[c]) COLLATE Latin1_General_100_BIN2_UTF8 AS varchar(max))",
    "nchar": "CAST(RTRIM(CONVERT(nvarchar(max), t.[c]) COLLATE Latin1_General_100_BIN2_UTF8) AS varchar(max))",
    "xml": "CAST(CONVERT(nvarchar(max), CONVERT(nvarchar(max), t.[c])) COLLATE Latin1_General_100_BIN2_UTF8"
    " AS varchar(max))",
    "geography": "CAST(CONVERT(nvarchar(max), t.[c].STAsText()) COLLATE Latin1_General_100_BIN2_UTF8 AS varchar(max))",
}


@pytest.mark.parametrize(("kind", "expected"), CANONICAL.items(), ids=list(CANONICAL))
def test_canonical_text_per_type(kind, expected):
    assert canonical_text(SourceColumn("c", kind, True, **_SHAPE.get(kind, {})), "t.[c]", strip_nul=False) == expected


def test_strip_policy_hashes_text_without_nul_under_a_binary_collation():
    """REPLACE finds NCHAR(0) only under a binary collation; padding is trimmed after the strip, as PostgreSQL does."""
    nvarchar, nchar = (
        SourceColumn("c", "nvarchar", True, char_length=40),
        SourceColumn("c", "nchar", True, char_length=4),
    )
    utf8 = "CONVERT(nvarchar(max), t.[c]) COLLATE Latin1_General_100_BIN2_UTF8"
    assert canonical_text(nvarchar, "t.[c]", strip_nul=True) == f"CAST(REPLACE({utf8}, NCHAR(0), N'') AS varchar(max))"
    assert (
        canonical_text(nchar, "t.[c]", strip_nul=True) == f"CAST(RTRIM(REPLACE({utf8}, NCHAR(0), N'')) AS varchar(max))"
    )


def test_row_text_tests_null_on_the_column_and_hashes_float_bits():
    """Stand-in for SQL Server: N; or V<octets>:<text>; per column; real/float enter as their IEEE 754 bits."""
    conn = FakeConnection()
    SqlServerSource(conn, SQL_SERVER_2019).bucket_checksums(EVERY_TYPE, COLUMNS, key="Id", width=1000, nul_policy=STRIP)
    (sql, params), = conn.executed  # fmt: skip
    assert "CASE WHEN t.[int col] IS NULL THEN 'N;' ELSE 'V' + CONVERT(varchar(20), DATALENGTH(v.[v" in sql
    assert "LOWER(CONVERT(varchar(16), CONVERT(binary(8), CONVERT(float, t.[float col])), 2))" in sql
    assert "CONVERT(float, t.[real col])" in sql
    assert "FROM [dbo].[Every Type]]s] AS t CROSS APPLY" in sql
    assert "CASE WHEN CONVERT(bigint, t.[Id]) >= 0 THEN CONVERT(bigint, t.[Id]) / CONVERT(bigint, 1000) ELSE" in sql
    assert params is None  # the width is an integer literal, rendered by int()


def test_sql_server_refuses_a_hash_form_it_does_not_offer():
    """Stand-in for SQL Server: only the canonical form is offered, and another is refused before any query."""
    conn = FakeConnection()
    source = SqlServerSource(conn, SQL_SERVER_2019)
    assert source.hash_forms(EVERY_TYPE, COLUMNS) == (CANONICAL_FORM,)
    with pytest.raises(ValueError, match="only the canonical row hash form, not 'postgres-row-hash/1'"):
        source.bucket_checksums(EVERY_TYPE, COLUMNS, key="Id", width=10, nul_policy=STRIP, form="postgres-row-hash/1")
    with pytest.raises(ValueError, match="only the canonical"):
        source.row_hashes(EVERY_TYPE, COLUMNS, key_range=KeyRange("Id", 1, 5), nul_policy=STRIP, form="other")
    assert conn.executed == []


def test_table_without_key_is_one_bucket():
    conn = FakeConnection([(0, 3, Decimal("123456789012345678"))])
    sums = SqlServerSource(conn, SQL_SERVER_2019).bucket_checksums(EVERY_TYPE, COLUMNS, key=None, width=1,
                                                                   nul_policy=FAIL)  # fmt: skip
    assert sums == {0: BucketSum(3, 123456789012345678)}
    assert conn.executed[0][0].startswith("SELECT q.bucket, COUNT_BIG(*), SUM(CONVERT(decimal(38,0), q.row_hash)) "
                                          "FROM (SELECT 0 AS bucket, ")  # fmt: skip
    assert conn.executed[0][1] is None


def _tsql_bucket(k: int, w: int) -> int:
    """The bucket expression as T-SQL evaluates it: bigint division truncates toward zero."""

    def div(a: int, b: int) -> int:
        return abs(a) // abs(b) * (1 if (a >= 0) == (b > 0) else -1)

    return div(k, w) if k >= 0 else -div(-1 - k, w) - 1


def test_a_width_beyond_int_range_stays_bigint_arithmetic():
    """T-SQL types a bare literal above 2**31 - 1 as decimal, which would make key / width fractional."""
    conn = FakeConnection()
    SqlServerSource(conn, SQL_SERVER_2019).bucket_checksums(
        EVERY_TYPE, COLUMNS, key="Id", width=2**40, nul_policy=STRIP
    )
    assert f"/ CONVERT(bigint, {2**40})" in conn.executed[0][0]
    assert f"/ {2**40}" not in conn.executed[0][0]


@pytest.mark.parametrize("width", [1, 3, 7, 50_000, 2**40])
def test_bucket_expression_is_floor_division(width):
    keys = [*range(-1000, 1001), -(2**63), 2**63 - 1, -(2**31), 2**31 - 1]
    assert all(_tsql_bucket(k, width) == k // width for k in keys)


def test_row_hashes_are_keyed_md5_hex():
    digests = [bytes.fromhex("0cc175b9c0f1b6a831c399e269772661"), bytes.fromhex("d41d8cd98f00b204e9800998ecf8427e")]
    conn = FakeConnection([(-1, digests[0]), (2, digests[1])])
    hashes = SqlServerSource(conn, SQL_SERVER_2019).row_hashes(EVERY_TYPE, COLUMNS, key_range=KeyRange("Id", -1, 3),
                                                               nul_policy=STRIP)  # fmt: skip
    assert hashes == {-1: "0cc175b9c0f1b6a831c399e269772661", 2: "d41d8cd98f00b204e9800998ecf8427e"}
    sql, params = conn.executed[0]
    assert sql.startswith("SELECT t.[Id], HASHBYTES('MD5', r.row_text) FROM ")
    assert sql.endswith(" WHERE t.[Id] >= %(low)s AND t.[Id] < %(high)s") and params == {"low": -1, "high": 3}


def test_56_bit_prefix_reads_the_same_on_both_engines():
    """CONVERT(bigint, 0x00 + first 7 bytes) and PostgreSQL's ('x' || 14 hex digits)::bit(56)::bigint agree."""
    digest = hashlib.md5(b"V3:abc;N;").digest()
    assert int.from_bytes(b"\x00" + digest[:7], "big") == int(digest.hex()[:14], 16) < 2**56


def test_counts_and_bounds():
    """Stand-in for SQL Server: COUNT_BIG over a range with bound parameters; MIN/MAX of the key."""
    conn = FakeConnection(lambda sql, params: [(12,)] if "COUNT_BIG" in sql else [(-1, 299_398)])
    source = SqlServerSource(conn, SQL_SERVER_2019)
    assert source.count_rows(EVERY_TYPE, KeyRange("Id", 0, 10)) == 12
    assert source.key_bounds(EVERY_TYPE, "Id") == (-1, 299_398)
    assert conn.executed == [
        ("SELECT COUNT_BIG(*) FROM [dbo].[Every Type]]s] WHERE [Id] >= %(low)s AND [Id] < %(high)s",
         {"low": 0, "high": 10}),
        ("SELECT MIN([Id]), MAX([Id]) FROM [dbo].[Every Type]]s]", None),
    ]  # fmt: skip
