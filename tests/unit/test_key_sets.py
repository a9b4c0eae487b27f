"""Key sets (what a sync re-copies) and their SQL filters, and the coarse-to-fine search for differing keys."""

from __future__ import annotations

from include.replication.models import KeyRange, KeySet
from include.replication.mssql.dialect import TSQL
from include.replication.postgres.dialect import POSTGRES
from include.replication.settings import NulPolicy
from include.replication.verify import BucketComparison, BucketSum, Side, compare_buckets, differing_keys
from tests.conftest import dev_package


def test_keys_become_runs_of_consecutive_integers():
    keys = KeySet.of("Id", [7, 3, 4, 5, 10, 4, -2])
    assert keys.runs == ((-2, -1), (3, 6), (7, 8), (10, 11))
    assert keys.keys == 6
    assert [b.runs for b in keys.batches(3)] == [((-2, -1), (3, 6), (7, 8)), ((10, 11),)]


def test_ranges_merge_when_they_touch_or_overlap():
    assert KeySet.from_ranges("Id", [(10, 20), (0, 5), (5, 8), (15, 30)]).runs == ((0, 8), (10, 30))


def test_filters_list_single_keys_and_bound_runs_in_both_dialects():
    keys = KeySet.of("Id", [1, 2, 3, 9, 12])
    assert POSTGRES.range_filter(keys) == (' WHERE "Id" IN (9, 12) OR "Id" BETWEEN 1 AND 3', {})
    assert TSQL.range_filter(keys, alias="t.") == (" WHERE t.[Id] IN (9, 12) OR t.[Id] BETWEEN 1 AND 3", {})
    assert POSTGRES.range_filter(KeySet("Id", ())) == (" WHERE 1 = 0", {})
    sqlglot = dev_package("sqlglot")
    sqlglot.parse_one("SELECT 1 FROM t" + TSQL.range_filter(keys)[0], read="tsql")
    sqlglot.parse_one("SELECT 1 FROM t" + POSTGRES.range_filter(keys)[0], read="postgres")


class Rows:
    """Both sides' rows as ``{key: hash}`` in memory: a stand-in for a database, to count the questions asked.

    The real checksum queries run against PostgreSQL and SQL Server in tests/integration and tests/mssql.
    """

    def __init__(self, rows: dict[int, int]) -> None:
        self.rows, self.queries = rows, 0

    def _keys(self, key_range):
        for k in sorted(self.rows):
            if isinstance(key_range, KeySet) and not any(lo <= k < hi for lo, hi in key_range.runs):
                continue
            if isinstance(key_range, KeyRange) and not (
                (key_range.low is None or k >= key_range.low) and (key_range.high is None or k < key_range.high)
            ):
                continue
            yield k

    def hash_forms(self, table, columns):
        return ("canonical",)

    def bucket_checksums(self, table, columns, *, key, width, nul_policy, key_range=None, form="canonical"):
        self.queries += 1
        sums: dict[int, BucketSum] = {}
        for k in self._keys(key_range):
            before = sums.get(k // width, BucketSum(0, 0))
            sums[k // width] = BucketSum(before.rows + 1, before.hash_sum + self.rows[k])
        return sums

    def row_hashes(self, table, columns, *, key_range, nul_policy, form="canonical"):
        self.queries += 1
        return {k: str(self.rows[k]) for k in self._keys(key_range)}

    def key_bounds(self, table, key):
        return min(self.rows), max(self.rows)


class Table:
    integer_key = "Id"
    approx_rows = 100_000


def test_one_changed_row_costs_narrow_ranges_and_few_queries():
    """100,000 rows, one changed, one deleted, one inserted: exactly those keys, in a handful of queries per side."""
    source = Rows({k: k * 7 for k in range(100_000)})
    target = Rows({k: k * 7 for k in range(100_000)})
    source.rows[4_321] += 1
    del source.rows[77_000]
    source.rows[100_005] = 1
    sides = Side(source, Table()), Side(target, Table())
    coarse = compare_buckets(*sides, (), nul_policy=NulPolicy.STRIP)
    assert coarse.differing  # two buckets of ~50,000 keys
    keys = differing_keys(coarse, coarse.differing, source=sides[0], target=sides[1], columns=(),
                          nul_policy=NulPolicy.STRIP)  # fmt: skip
    assert keys.runs == ((4_321, 4_322), (77_000, 77_001), (100_005, 100_006))
    assert source.queries <= 4 and target.queries <= 4


def test_changes_spread_everywhere_are_all_found():
    """Every 97th row changed: every key found, with queries per side independent of the number of buckets."""
    source = Rows({k: k for k in range(50_000)})
    target = Rows({k: k + (1 if k % 97 == 0 else 0) for k in range(50_000)})
    sides = Side(source, Table()), Side(target, Table())
    coarse = BucketComparison("Id", 1_000, source.bucket_checksums(None, (), key="Id", width=1_000, nul_policy=None),
                              target.bucket_checksums(None, (), key="Id", width=1_000, nul_policy=None))  # fmt: skip
    keys = differing_keys(coarse, coarse.differing, source=sides[0], target=sides[1], columns=(),
                          nul_policy=NulPolicy.STRIP)  # fmt: skip
    assert keys.runs == tuple((k, k + 1) for k in range(0, 50_000, 97))
    assert source.queries <= 6
