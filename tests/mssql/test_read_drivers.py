"""The SQL Server source over mssql-python writes the same COPY text as over pymssql, byte for byte.

Runs only with a TDS server (``REPLICATION_TEST_MSSQL_URL``, see README.md here); skipped otherwise.

``SqlServerSource`` takes a DB-API connection; ADR 0010 measures mssql-python (Microsoft's driver)
against pymssql and freebcp for the bulk read. These tests hold the two drivers to one output:
the every-type table of ``test_types.py`` (every mapped type, its edge values and a row of NULLs)
and a small generated StackOverflow, read whole and by key range, must give identical bytes (a
column or table without text goes through ``columnar.py`` on mssql-python: Id with one integer,
bit or date column, Votes, PostLinks); and
a table copied from an mssql-python source verifies with checksums (the client-side checksum
reads through the same connection as the copy).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from include.replication.load import replicate_table
from include.replication.models import KeyRange, SourceTable
from include.replication.mssql import columnar
from include.replication.mssql.connect import connect_mssql_python
from include.replication.mssql.source import SqlServerSource
from include.replication.mssql.types import map_table
from include.replication.plan import TableJob
from include.replication.postgres.target import PostgresTarget
from include.replication.settings import NulPolicy, ReplicationSettings, VerifyMode
from include.stackoverflow.database import connect
from tests.mssql.mssql_helpers import MssqlServer, generated_stackoverflow, pg_database, unique_name
from tests.mssql.test_types import CASES, adapt, create_every_type_table

pytestmark = pytest.mark.slow


def by_mssql_python(server: MssqlServer, database: str) -> Any:
    """The project's mssql-python connection to ``database``."""
    return connect_mssql_python(host=server.host, port=server.port, user=server.user, password=server.password,
                                database=database)  # fmt: skip


def copy_text(conn: Any, table: SourceTable, *, key_range: KeyRange | None = None) -> tuple[bytes, int]:
    """What ``stream_rows`` writes for ``table`` over ``conn``, and its row count."""
    chunks: list[bytes] = []
    result = SqlServerSource(conn).stream_rows(
        table, map_table(table), chunks.append, nul_policy=NulPolicy.STRIP, key_range=key_range
    )
    return b"".join(chunks), result.rows


def first_difference(left: bytes, right: bytes) -> str:
    """The first line that differs, for an assertion message."""
    for number, (a, b) in enumerate(zip(left.split(b"\n"), right.split(b"\n"), strict=False), start=1):
        if a != b:
            return f"line {number}: pymssql {a[:300]!r} vs mssql-python {b[:300]!r}"
    return f"lengths {len(left)} vs {len(right)}"


@pytest.fixture(scope="module")
def every_type(mssql_server: MssqlServer, mssql_scratch: str) -> Iterator[tuple[Any, Any, SourceTable]]:
    """The every-type table; a pymssql and an mssql-python connection to its database."""
    name = unique_name("read_drivers")
    pymssql_conn = mssql_server.connect(mssql_scratch)
    other = by_mssql_python(mssql_server, mssql_scratch)
    try:
        create_every_type_table(pymssql_conn, name, adapt(CASES, mssql_server.traits).cases)
        table = next(t for t in SqlServerSource(other).fetch_tables("dbo") if t.name == name)
        yield pymssql_conn, other, table
    finally:
        pymssql_conn.close()
        other.close()


def test_every_type_gives_the_same_copy_text(every_type: tuple[Any, Any, SourceTable]):
    """Each mapped type's edge values and NULLs: identical bytes from both drivers, column by column."""
    pymssql_conn, other, table = every_type
    left, rows = copy_text(pymssql_conn, table)
    right, other_rows = copy_text(other, table)
    assert rows == other_rows == 5
    differing = []
    for column in table.columns[1:]:
        alone = SourceTable(table.schema, table.name, (table.columns[0], column), primary_key=table.primary_key)
        a, b = copy_text(pymssql_conn, alone)[0], copy_text(other, alone)[0]
        if a != b:
            differing.append(f"{column.name} ({column.data_type}): {first_difference(a, b)}")
    assert not differing, "\n".join(differing)
    assert left == right


def test_the_catalog_reads_alike(every_type: tuple[Any, Any, SourceTable]):
    """The catalog reader gives the same table through either driver (its queries are the same T-SQL)."""
    pymssql_conn, other, table = every_type
    assert next(t for t in SqlServerSource(pymssql_conn).fetch_tables("dbo") if t.name == table.name) == table


@pytest.fixture(scope="module")
def stackoverflow(mssql_server: MssqlServer) -> Iterator[str]:
    """A small generated StackOverflow (about 19,000 rows) in a scratch database."""
    with generated_stackoverflow(mssql_server, "so_drivers", scale=0.001, seed=7) as name:
        yield name


def test_stackoverflow_tables_read_alike_whole_and_by_range(mssql_server: MssqlServer, stackoverflow: str):
    pymssql_conn = mssql_server.connect(stackoverflow)
    other = by_mssql_python(mssql_server, stackoverflow)
    try:
        tables = SqlServerSource(other).fetch_tables("dbo")
        assert len(tables) == 9
        # Votes and PostLinks hold no text: mssql-python reads them column by column (columnar.py)
        assert {t.name for t in tables if columnar.fits(t.columns)} == {"Votes", "PostLinks"}
        for table in tables:
            left, right = copy_text(pymssql_conn, table), copy_text(other, table)
            assert left == right, f"{table.name}: {first_difference(left[0], right[0])}"
            if table.integer_key:
                low, high = SqlServerSource(other).key_bounds(table, table.integer_key)
                if low is not None:
                    middle = KeyRange(table.integer_key, low, (low + high) // 2)
                    assert copy_text(pymssql_conn, table, key_range=middle) == copy_text(other, table, key_range=middle)
        hashes = {t.name: hashlib.md5(copy_text(other, t)[0]).hexdigest() for t in tables}
        assert len(set(hashes.values())) == len(tables)  # nine different tables, nine different texts
    finally:
        pymssql_conn.close()
        other.close()


def test_a_copy_from_mssql_python_verifies_with_checksums(mssql_server: MssqlServer, stackoverflow: str,
                                                          pg_server_url: str):  # fmt: skip
    """Posts and Votes copied through an mssql-python source; the checksums of both sides agree."""
    other = by_mssql_python(mssql_server, stackoverflow)
    try:
        source = SqlServerSource(other)
        tables = {t.name: t for t in source.fetch_tables("dbo")}
        with pg_database(pg_server_url, "t_read_drivers") as target_url:
            for name in ("Posts", "Votes"):
                job = TableJob(tables[name], source.map_columns(tables[name]),
                               ReplicationSettings(verify=VerifyMode.CHECKSUMS))  # fmt: skip
                target = PostgresTarget(connect(target_url))
                try:
                    report = replicate_table(job, source=source, target=target)
                finally:
                    target.close()
                assert report.verification is not None and report.verification.ok, report.verification
                assert report.verification.checksum_match is True
                assert report.stats.rows == report.verification.source_rows > 0
    finally:
        other.close()
