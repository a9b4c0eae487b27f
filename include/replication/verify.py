"""Prove a copy: row counts and per-key-range checksums computed independently on both sides.

The checksum contract, which every engine's SQL implements (``postgres/dialect.py`` on
PostgreSQL, ``mssql/checksums.py`` in T-SQL): for each row, both sides compute the same canonical
text from the *target* column types, hash it with MD5 over UTF-8, and sum the first 7 bytes of
the hash (a non-negative 56-bit integer) per key bucket ``floor(key / width)``. Equal
(count, sum) per bucket on both sides means equal content; a differing bucket is compared row
by row (``row_hashes``), so the report names the keys that are missing, extra or different.
Tables without a single integer key are compared as one bucket.

Canonical text of a row: for each column in order, ``N;`` for NULL, else
``V<octets>:<text>;`` where ``<octets>`` is the UTF-8 byte length of ``<text>`` and ``<text>`` is:

- integers: decimal digits with optional ``-``; boolean/bit: ``t`` or ``f``
- numeric(p,s) and money: plain decimal with exactly ``s`` fraction digits (no exponent)
- real / double precision: the IEEE 754 bits of the value widened to double, as 16 lowercase hex
  digits, big-endian (PostgreSQL ``encode(float8send(x::float8), 'hex')``, T-SQL
  ``CONVERT(binary(8), CONVERT(float, x))``). Widening real to double is exact and COPY carries
  floats in shortest round-trip form, so equal bits are the only honest test; decimal text is not
  portable between engines (15-digit rounding differs in the last digit for some values)
- date ``YYYY-MM-DD``; time ``HH:MM:SS.ffffff``; timestamp ``YYYY-MM-DD HH:MM:SS.ffffff`` (always six
  fraction digits); timestamptz: the UTC instant in that form followed by ``+00``
- text types: the text itself (trailing spaces kept, except ``char(n)`` padding, which PostgreSQL's
  ``::text`` drops; NUL characters removed when the NUL policy is
  ``strip``, so the checksum compares what was promised)
- bytea: lowercase hex without prefix; uuid: lowercase ``8-4-4-4-12``; xml/json: their text

That is the ``CANONICAL`` form, which every engine computes. Two sides that both offer a cheaper
form for a table (``hash_forms``: both PostgreSQL, with the same column types) hash in that one
instead (ADR 0012); the report names the form each table was compared in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from include.replication.models import KeyRange, KeySet, SourceTable, TableName, TargetColumn
from include.replication.settings import NulPolicy, VerifyMode

T = TypeVar("T")
ROWS_PER_BUCKET = 50_000  # small enough to drill into, large enough to keep the GROUP BY cheap
MAX_BUCKETS_DRILLED = 5
MAX_ROWS_REPORTED = 20
FINE_ROWS = 32  # rows per differing bucket at which their rows are compared by hash instead
RUNS_PER_QUERY = 500  # key ranges one comparison query filters on (literals: no parameter limit)
CANONICAL = "canonical"  # the canonical text's MD5, above: the row hash every side can compute


class VerificationFailed(Exception):
    """Source and target differ; the message is the table of differences. Not worth retrying."""


@dataclass(frozen=True)
class BucketSum:
    """Per key bucket: row count and the sum of 56-bit row hashes."""

    rows: int
    hash_sum: int


class Checksummable(Protocol):
    """One side of a comparison, bound to its connection: what the contract above needs from it.

    ``table`` is a ``SourceTable`` on a source (whose column types the canonical text may need)
    and a ``TableName`` on a target.
    """

    def hash_forms(self, table: Any, columns: Sequence[TargetColumn]) -> tuple[str, ...]:
        """The row hash forms this side can compute for ``table``, preferred first; ``CANONICAL`` is always among them."""

    def count_rows(self, table: Any, key_range: KeyRange | None = None) -> int:
        """``count(*)`` of the table, or of a key range."""

    def key_bounds(self, table: Any, key: str) -> tuple[int | None, int | None]:
        """``(min(key), max(key))``, both None for an empty table."""

    def bucket_checksums(
        self,
        table: Any,
        columns: Sequence[TargetColumn],
        *,
        key: str | None,
        width: int,
        nul_policy: NulPolicy,
        key_range: KeyRange | KeySet | None = None,
        form: str = CANONICAL,
    ) -> dict[int, BucketSum]:
        """Per bucket ``floor(key / width)``: rows and hash sum; with ``key=None`` the whole table is bucket 0.

        ``form`` is one of ``hash_forms``; a side refuses one it does not compute.
        """

    def row_hashes(
        self,
        table: Any,
        columns: Sequence[TargetColumn],
        *,
        key_range: KeyRange | KeySet,
        nul_policy: NulPolicy,
        form: str = CANONICAL,
    ) -> dict[Any, str]:
        """``{key value: row hash}`` for the keys in ``key_range``: to name the rows that differ."""


@dataclass(frozen=True)
class TableVerification:
    """The verification result of one table: what was compared and what differs."""

    table: str
    mode: str
    source_rows: int
    target_rows: int
    checksum_match: bool | None = None  # None: not compared (mode counts/off)
    buckets: int = 0
    differing_buckets: tuple[tuple[int, int, int], ...] = ()  # (bucket, source rows, target rows)
    differing_rows: tuple[tuple[str, str], ...] = field(default=())  # (key, what)
    bucket_width: int = 0  # keys per bucket (0: not compared by bucket)
    hash_form: str = ""  # the row hash both sides computed (mode checksums)

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows and self.checksum_match is not False

    def describe(self) -> str:
        """Human-readable account of the differences (empty when ok)."""
        if self.ok:
            return ""
        lines = [f"{self.table}: source {self.source_rows:,} rows, target {self.target_rows:,} rows"]
        if self.checksum_match is False:
            lines.append(f"  {len(self.differing_buckets)} of {self.buckets} key ranges differ")
            for bucket, source_rows, target_rows in self.differing_buckets[:MAX_BUCKETS_DRILLED]:
                lines.append(f"  bucket {bucket}: source {source_rows} rows, target {target_rows} rows")
            for key, what in self.differing_rows:
                lines.append(f"  {key}: {what}")
        return "\n".join(lines)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableVerification:
        return cls(
            **{
                **data,
                "differing_buckets": tuple(tuple(b) for b in data["differing_buckets"]),
                "differing_rows": tuple(tuple(r) for r in data["differing_rows"]),
            }
        )


def not_verified(table: SourceTable) -> TableVerification:
    """The result recorded for ``verify=off``."""
    return TableVerification(table.qualified, VerifyMode.OFF.value, -1, -1)


def bucket_width(low: int | None, high: int | None, rows: int) -> int:
    """A key-range width giving about ROWS_PER_BUCKET rows per bucket, never wider than the key span."""
    if low is None or high is None or rows == 0:
        return 1
    span = high - low + 1
    return max(1, min(span, span * ROWS_PER_BUCKET // rows))


@dataclass(frozen=True)
class Side:
    """One side of a comparison: who answers and which table (a ``SourceTable`` on a source)."""

    checksums: Checksummable
    table: Any


def common_form(source: Side, target: Side, columns: Sequence[TargetColumn]) -> str:
    """The first row hash form the source prefers that the target also computes (at worst ``CANONICAL``)."""
    offered = target.checksums.hash_forms(target.table, columns)
    return next((f for f in source.checksums.hash_forms(source.table, columns) if f in offered), CANONICAL)


@dataclass(frozen=True)
class BucketComparison:
    """Both sides' bucket sums at one width: what is equal and which buckets differ."""

    key: str | None
    width: int
    source: dict[int, BucketSum]
    target: dict[int, BucketSum]
    form: str = CANONICAL

    @property
    def differing(self) -> list[int]:
        return sorted(b for b in self.source.keys() | self.target.keys() if self.source.get(b) != self.target.get(b))

    @property
    def buckets(self) -> int:
        """Buckets holding rows on either side."""
        return len(self.source.keys() | self.target.keys())

    @property
    def source_rows(self) -> int:
        return sum(b.rows for b in self.source.values())

    @property
    def target_rows(self) -> int:
        return sum(b.rows for b in self.target.values())

    def bucket_range(self, bucket: int) -> KeyRange:
        assert self.key is not None
        return KeyRange(self.key, bucket * self.width, (bucket + 1) * self.width)

    def ranges(self, buckets: Sequence[int]) -> KeySet:
        """The keys of ``buckets``, as runs (adjacent buckets make one run)."""
        assert self.key is not None
        return KeySet.from_ranges(self.key, [(b * self.width, (b + 1) * self.width) for b in buckets])

    def rows_in(self, buckets: Sequence[int]) -> int:
        """Rows in ``buckets``, on whichever side has more."""
        return sum(max(getattr(self.source.get(b), "rows", 0), getattr(self.target.get(b), "rows", 0)) for b in buckets)

    def with_fresh(self, buckets: Sequence[int], fresh: BucketComparison) -> BucketComparison:
        """This comparison with ``buckets`` replaced by their sums in ``fresh`` (computed again, same width)."""
        again = set(buckets)

        def merged(old: dict[int, BucketSum], new: dict[int, BucketSum]) -> dict[int, BucketSum]:
            return {**{b: s for b, s in old.items() if b not in again}, **new}

        return BucketComparison(
            self.key, self.width, merged(self.source, fresh.source), merged(self.target, fresh.target), self.form
        )


def compare_buckets(
    source: Side,
    target: Side,
    columns: Sequence[TargetColumn],
    *,
    nul_policy: NulPolicy,
    width: int | None = None,
    key_range: KeyRange | KeySet | None = None,
    form: str | None = None,
) -> BucketComparison:
    """Bucket sums of both sides, computed at the same time.

    ``width`` from the source's key span if not given; ``form`` as both sides agree (``common_form``)
    if not given, and ``CANONICAL`` for a table without an integer key (the other forms are seeded with it).
    """
    key = source.table.integer_key
    if form is None:
        form = common_form(source, target, columns) if key else CANONICAL
    if width is None:
        low, high = source.checksums.key_bounds(source.table, key) if key else (None, None)
        estimate = source.table.approx_rows if source.table.approx_rows > 0 else None
        if key and estimate is None:
            estimate = source.checksums.count_rows(source.table)
        width = bucket_width(low, high, estimate or 0)
    parts = key_range.batches(RUNS_PER_QUERY) if isinstance(key_range, KeySet) else [key_range]
    source_sums: dict[int, BucketSum] = {}
    target_sums: dict[int, BucketSum] = {}
    for part in parts:  # a bucket cut by the ends of two batches' ranges is summed over both
        kwargs = {"key": key, "width": width, "nul_policy": nul_policy, "key_range": part, "form": form}
        from_source, from_target = _on_both_sides(
            lambda kwargs=kwargs: source.checksums.bucket_checksums(source.table, columns, **kwargs),
            lambda kwargs=kwargs: target.checksums.bucket_checksums(target.table, columns, **kwargs),
        )
        _add(source_sums, from_source)
        _add(target_sums, from_target)
    return BucketComparison(key, width, source_sums, target_sums, form)


def _add(into: dict[int, BucketSum], sums: dict[int, BucketSum]) -> None:
    for bucket, s in sums.items():
        before = into.get(bucket)
        into[bucket] = s if before is None else BucketSum(before.rows + s.rows, before.hash_sum + s.hash_sum)


def verification_of(
    comparison: BucketComparison,
    *,
    name: str,
    source: Side,
    target: Side,
    columns: Sequence[TargetColumn],
    nul_policy: NulPolicy,
) -> TableVerification:
    """The verification a comparison amounts to; the first differing buckets are drilled to name rows."""
    differing = comparison.differing
    rows: list[tuple[str, str]] = []
    if comparison.key:
        for bucket in differing[:MAX_BUCKETS_DRILLED]:
            found = _row_differences(
                source, target, columns, comparison.bucket_range(bucket), nul_policy, comparison.form
            )
            rows.extend((f"{comparison.key}={value}", what) for value, what in found)
    return TableVerification(
        table=name,
        mode=VerifyMode.CHECKSUMS.value,
        source_rows=comparison.source_rows,
        target_rows=comparison.target_rows,
        checksum_match=not differing,
        buckets=comparison.buckets,
        differing_buckets=tuple(
            (b, getattr(comparison.source.get(b), "rows", 0), getattr(comparison.target.get(b), "rows", 0))
            for b in differing
        ),
        differing_rows=tuple(rows[:MAX_ROWS_REPORTED]),
        bucket_width=comparison.width,
        hash_form=comparison.form,
    )


def differing_keys(
    comparison: BucketComparison,
    buckets: Sequence[int],
    *,
    source: Side,
    target: Side,
    columns: Sequence[TargetColumn],
    nul_policy: NulPolicy,
) -> KeySet:
    """The keys missing, extra or different in ``buckets``, found coarse to fine.

    The differing buckets are cut into buckets of about ``FINE_ROWS`` rows and compared again, all
    of them in one query per side (``RUNS_PER_QUERY`` ranges at a time), as often as that still
    narrows them; then the rows of the differing narrow buckets are compared by hash. A single
    changed row costs its narrow bucket, not its 50,000-row one; changes spread everywhere cost
    one more pass over the differing buckets, without one round trip per range.
    """
    assert comparison.key is not None
    level, differing = comparison, list(buckets)
    # twice FINE_ROWS: a level that would only halve the rows left to hash costs more than it saves
    while differing and level.width > 1 and (rows := level.rows_in(differing)) > 2 * FINE_ROWS * len(differing):
        width = max(1, level.width * FINE_ROWS * len(differing) // rows)
        level = compare_buckets(source, target, columns, nul_policy=nul_policy, width=width,
                                key_range=level.ranges(differing), form=level.form)  # fmt: skip
        differing = level.differing
    keys: list[Any] = []
    if differing:
        for batch in level.ranges(differing).batches(RUNS_PER_QUERY):
            found = _row_differences(source, target, columns, batch, nul_policy, level.form)
            keys.extend(value for value, _ in found)
    return KeySet.of(comparison.key, keys)


def _row_differences(
    source: Side,
    target: Side,
    columns: Sequence[TargetColumn],
    key_range: KeyRange | KeySet,
    nul_policy: NulPolicy,
    form: str,
) -> list[tuple[Any, str]]:
    """``(key value, what)`` for every row of ``key_range`` that is missing, extra or different in the target."""
    args = {"key_range": key_range, "nul_policy": nul_policy, "form": form}
    source_hashes, target_hashes = _on_both_sides(
        lambda: source.checksums.row_hashes(source.table, columns, **args),
        lambda: target.checksums.row_hashes(target.table, columns, **args),
    )
    found = []
    for value in sorted(source_hashes.keys() | target_hashes.keys()):
        if value not in target_hashes:
            found.append((value, "missing in target"))
        elif value not in source_hashes:
            found.append((value, "extra in target"))
        elif source_hashes[value] != target_hashes[value]:
            found.append((value, "values differ"))
    return found


def verify_table(
    *,
    mode: VerifyMode,
    source: Checksummable,
    source_table: SourceTable,
    target: Checksummable,
    target_table: TableName,
    columns: Sequence[TargetColumn],
    nul_policy: NulPolicy,
    copied_rows: int | None = None,
) -> TableVerification:
    """Compare ``source_table`` with ``target_table``; ``copied_rows`` replaces the target count in append mode."""
    name = source_table.qualified
    if mode == VerifyMode.OFF:
        return not_verified(source_table)
    if mode != VerifyMode.CHECKSUMS or copied_rows is not None:
        source_rows, target_rows = _on_both_sides(
            lambda: source.count_rows(source_table),
            lambda: copied_rows if copied_rows is not None else target.count_rows(target_table),
        )
        return TableVerification(name, mode.value, source_rows, target_rows)
    # The bucket sums carry each side's row count, so no count(*) scan: the width only needs an
    # estimate. Checksums run even when the counts differ: the buckets say where the rows went.
    sides = Side(source, source_table), Side(target, target_table)
    comparison = compare_buckets(*sides, columns, nul_policy=nul_policy)
    return verification_of(comparison, name=name, source=sides[0], target=sides[1], columns=columns,
                           nul_policy=nul_policy)  # fmt: skip


def _on_both_sides(on_source: Callable[[], T], on_target: Callable[[], T]) -> tuple[T, T]:
    """Run the source's and the target's query at the same time: each side's server does its own scan.

    Each connection is used by one thread only; the drivers wait on their sockets without the GIL.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify-source") as pool:
        from_source = pool.submit(on_source)
        from_target = on_target()
        return from_source.result(), from_target
