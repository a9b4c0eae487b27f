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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from include.replication.models import KeyRange, SourceTable, TableName, TargetColumn
from include.replication.settings import NulPolicy, VerifyMode

T = TypeVar("T")
ROWS_PER_BUCKET = 50_000  # small enough to drill into, large enough to keep the GROUP BY cheap
MAX_BUCKETS_DRILLED = 5
MAX_ROWS_REPORTED = 20


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
        key_range: KeyRange | None = None,
    ) -> dict[int, BucketSum]:
        """Per bucket ``floor(key / width)``: rows and hash sum; with ``key=None`` the whole table is bucket 0."""

    def row_hashes(
        self,
        table: Any,
        columns: Sequence[TargetColumn],
        *,
        key: str,
        low: int,
        high: int,
        nul_policy: NulPolicy,
    ) -> dict[Any, str]:
        """``{key value: md5 hex}`` for keys in ``[low, high)``: to name the rows that differ."""


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
    """A key-range width giving about ROWS_PER_BUCKET rows per bucket."""
    if low is None or high is None or rows == 0:
        return 1
    return max(1, (high - low + 1) * ROWS_PER_BUCKET // rows)


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
    key = source_table.integer_key
    low, high = source.key_bounds(source_table, key) if key else (None, None)
    estimate = source_table.approx_rows if source_table.approx_rows > 0 else None
    if key and estimate is None:
        estimate = source.count_rows(source_table)
    width = bucket_width(low, high, estimate or 0)
    kwargs = {"key": key, "width": width, "nul_policy": nul_policy}
    source_sums, target_sums = _on_both_sides(
        lambda: source.bucket_checksums(source_table, columns, **kwargs),
        lambda: target.bucket_checksums(target_table, columns, **kwargs),
    )
    differing = sorted(b for b in source_sums.keys() | target_sums.keys() if source_sums.get(b) != target_sums.get(b))
    rows: list[tuple[str, str]] = []
    if key:
        for bucket in differing[:MAX_BUCKETS_DRILLED]:
            range_args = {"key": key, "low": bucket * width, "high": (bucket + 1) * width, "nul_policy": nul_policy}
            rows.extend(
                _differing_rows(
                    key,
                    source.row_hashes(source_table, columns, **range_args),
                    target.row_hashes(target_table, columns, **range_args),
                )
            )
    return TableVerification(
        table=name,
        mode=mode.value,
        source_rows=sum(b.rows for b in source_sums.values()),
        target_rows=sum(b.rows for b in target_sums.values()),
        checksum_match=not differing,
        buckets=len(source_sums.keys() | target_sums.keys()),
        differing_buckets=tuple(
            (b, getattr(source_sums.get(b), "rows", 0), getattr(target_sums.get(b), "rows", 0)) for b in differing
        ),
        differing_rows=tuple(rows[:MAX_ROWS_REPORTED]),
    )


def _on_both_sides(on_source: Callable[[], T], on_target: Callable[[], T]) -> tuple[T, T]:
    """Run the source's and the target's query at the same time: each side's server does its own scan.

    Each connection is used by one thread only; the drivers wait on their sockets without the GIL.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify-source") as pool:
        from_source = pool.submit(on_source)
        from_target = on_target()
        return from_source.result(), from_target


def _differing_rows(key: str, source_hashes: dict[Any, str], target_hashes: dict[Any, str]) -> list[tuple[str, str]]:
    found = []
    for value in sorted(source_hashes.keys() | target_hashes.keys()):
        if value not in target_hashes:
            found.append((f"{key}={value}", "missing in target"))
        elif value not in source_hashes:
            found.append((f"{key}={value}", "extra in target"))
        elif source_hashes[value] != target_hashes[value]:
            found.append((f"{key}={value}", "values differ"))
    return found
