"""The attached StackOverflow2010 database, read through the project's SQL Server catalog reader.

Runs only with a real SQL Server (``REPLICATION_TEST_MSSQL_URL``, see README.md here) on which
``scripts/mssql/attach_stackoverflow2010.sh`` attached StackOverflow2010; skipped otherwise.

These prove the attach script worked and that the unit tests' stand-in catalog
(``tests/unit/test_mssql_catalog.py``) is what the real database returns: nine tables,
schema.py's row counts, and the 61 columns the T-SQL script declares.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from include.replication.mssql.source import SqlServerSource
from include.replication.mssql.types import map_table
from include.stackoverflow.schema import ROW_COUNTS, TOTAL_ROWS
from tests.mssql.mssql_helpers import MssqlServer, tsql_script_tables


@pytest.fixture(scope="module")
def so2010(mssql_server: MssqlServer, stackoverflow2010: str) -> Iterator[Any]:
    """A connection to StackOverflow2010 (the fixture skips when it is not attached)."""
    conn = mssql_server.connect(stackoverflow2010)
    try:
        yield conn
    finally:
        conn.close()


def test_nine_tables_with_the_real_row_counts(so2010: Any):
    """dbo holds exactly the nine tables, and COUNT_BIG(*) of each is schema.py's StackOverflow2010 count."""
    source = SqlServerSource(so2010)
    tables = source.fetch_tables("dbo")
    assert sorted(t.name for t in tables) == sorted(ROW_COUNTS)
    counts = {t.name: source.count_rows(t) for t in tables}
    assert counts == ROW_COUNTS
    assert sum(counts.values()) == TOTAL_ROWS


def test_catalog_row_estimates_are_the_counts(so2010: Any):
    """sys.partitions' row counts (approx_rows, which the partition planner and checksums size by) equal the counts."""
    tables = SqlServerSource(so2010).fetch_tables("dbo")
    assert {t.name: t.approx_rows for t in tables} == ROW_COUNTS


def test_catalog_columns_are_the_tsql_script(so2010: Any):
    """fetch_tables returns the 61 columns of stackoverflow2010_mssql.sql: order, type, length, nullability, identity.

    And the shape PRODUCT §9 states: Id the only primary-key column, no foreign keys, no other indexes;
    every column maps to a PostgreSQL type.
    """
    tables = {t.name: t for t in SqlServerSource(so2010).fetch_tables("dbo")}
    declared = tsql_script_tables()
    assert sorted(tables) == sorted(declared)
    for name, columns in declared.items():
        table = tables[name]
        assert table.columns == columns, name
        assert (table.primary_key, table.foreign_keys, table.indexes) == (("Id",), (), ()), name
        map_table(table)
    assert sum(len(t.columns) for t in tables.values()) == 61
