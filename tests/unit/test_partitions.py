"""The partition planner: balanced key ranges from a distribution, on dense, sparse and skewed keys."""

from __future__ import annotations

import bisect
import random

import pytest

from include.replication.models import SourceColumn, SourceTable
from include.replication.mssql.capabilities import SQL_SERVER_2019, Capabilities
from include.replication.mssql.source import SqlServerSource
from include.replication.partitions import Partition, boundaries, cumulative_points, histogram_points, plan_table
from tests.unit.mssql_fakes import FakeConnection


def histogram_of(keys: list[int], buckets: int = 100) -> list[tuple[int, float]]:
    """What PostgreSQL's ANALYZE would keep: equi-depth bounds of the sorted keys."""
    keys = sorted(keys)
    bounds = [keys[round(i * (len(keys) - 1) / buckets)] for i in range(buckets + 1)]
    return histogram_points(bounds, len(keys))


def rows_per_partition(keys: list[int], parts: list[Partition]) -> list[int]:
    keys = sorted(keys)
    counts = []
    for p in parts:
        lo = 0 if p.low is None else bisect.bisect_left(keys, p.low)
        hi = len(keys) if p.high is None else bisect.bisect_left(keys, p.high)
        counts.append(hi - lo)
    return counts


rng = random.Random(1)
KEY_SETS = {
    "dense": list(range(1, 200_001)),
    "sparse": sorted(rng.sample(range(1, 5_000_000), 200_000)),
    "skewed": list(range(1, 150_001)) + list(range(10_000_000, 10_000_000 + 50_000 * 40, 40)),
    "negative-and-positive": list(range(-100_000, 100_000)),
}


@pytest.mark.parametrize("name", KEY_SETS)
def test_partitions_are_balanced_and_cover_every_row(name):
    """Every row is in exactly one partition, and no partition is far from partition_rows."""
    keys = KEY_SETS[name]
    parts = plan_table("T", key="Id", total_rows=len(keys), points=histogram_of(keys), partition_rows=20_000)
    counts = rows_per_partition(keys, parts)
    assert sum(counts) == len(keys)
    assert parts[0].low is None and parts[-1].high is None
    assert all(a.high == b.low for a, b in zip(parts, parts[1:], strict=False))
    assert len(parts) == 10
    assert max(counts) <= 1.25 * 20_000 and min(counts) >= 0.75 * 20_000, counts


def test_small_table_is_one_partition():
    """A table at or under partition_rows is one whole-table partition."""
    parts = plan_table("LinkTypes", key="Id", total_rows=2, points=[(1, 1), (3, 2)], partition_rows=500_000)
    assert [(p.low, p.high, p.key_range()) for p in parts] == [(None, None, None)]


@pytest.mark.parametrize("rows", [0, 1])
def test_empty_and_one_row_tables(rows):
    """Empty and one-row tables plan one partition, with or without statistics."""
    assert len(plan_table("T", key="Id", total_rows=rows, points=[], partition_rows=10)) == 1


def test_keyless_table_is_one_partition_and_says_so():
    """A table without a single integer key is one partition with a note for the report."""
    (part,) = plan_table("Heap", key=None, total_rows=10**7, points=None, partition_rows=1000)
    assert part.key_range() is None and "no single integer key" in part.note


def test_stale_statistics_never_lose_rows():
    """Statistics that miss newer keys still yield open-ended edges: rows past the histogram land in the last partition."""
    keys = list(range(1, 100_001))
    stale = histogram_of(keys[:50_000])
    parts = plan_table("T", key="Id", total_rows=100_000, points=stale, partition_rows=10_000)
    assert sum(rows_per_partition(keys, parts)) == 100_000


def test_boundaries_strictly_increase_on_duplicate_points():
    """Flat stretches in the distribution never produce empty or reversed ranges."""
    cuts = boundaries([(1, 0), (1, 50), (1, 100), (2, 100), (1000, 200)], total_rows=200, parts=8)
    assert cuts == sorted(set(cuts))


def test_sqlserver_histogram_steps_accumulate():
    """SQL Server steps (high key, rows inside, rows equal) become cumulative points."""
    assert cumulative_points([(1, 0, 1), (100, 98, 1), (500, 300, 1)]) == [(1, 1.0), (100, 100.0), (500, 401.0)]


def test_sqlserver_distribution_is_stretched_to_the_current_row_count():
    """Stand-in for SQL Server: a histogram behind the table's row count is scaled to sys.partitions' count."""
    table = SourceTable("dbo", "Votes", (SourceColumn("Id", "int", False, identity=True),), ("Id",), approx_rows=802)
    conn = FakeConnection([(1, 0, 1), (100, 98, 1), (500, 300, 1)])
    spread = SqlServerSource(conn, SQL_SERVER_2019).key_distribution(table, "Id")
    assert spread.rows == 802 and spread.points[-1] == (500, 802.0) and spread.basis == "statistics histogram"
    assert "sys.dm_db_stats_histogram" in conn.executed[0][0]
    assert conn.executed[0][1] == {"qualified": "[dbo].[Votes]", "key": "Id"}


def test_without_the_histogram_dmf_the_key_is_scanned_once_and_the_log_says_why():
    """Stand-in for a server without sys.dm_db_stats_histogram (Babelfish; SQL Server 2016 before SP1 CU2)."""
    table = SourceTable("dbo", "Votes", (SourceColumn("Id", "int", False, identity=True),), ("Id",))
    conn = FakeConnection([(1, 1), (50, 2), (900, 3)])
    no_histogram = Capabilities(stats_histogram=False)
    spread = SqlServerSource(conn, no_histogram).key_distribution(table, "Id")
    assert (spread.rows, spread.points) == (3, [(1, 1.0), (50, 2.0), (900, 3.0)])
    assert spread.basis == "exact quantiles: this server has no sys.dm_db_stats_histogram"
    assert len(conn.executed) == 1 and "ROW_NUMBER() OVER (ORDER BY [Id])" in conn.executed[0][0]
