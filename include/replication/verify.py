"""Prove a copy: row counts and per-key-range checksums computed independently on both sides.

``checksums`` compares, per bucket of the integer key, the row count and the sum of 56-bit row
hashes (contract in ``dialects.py``); differing buckets are then compared row by row, so the
report names the keys that are missing, extra or different. Tables without a single integer
key are compared as one bucket.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from include.replication.interfaces import SourceDialect
from include.replication.models import SourceTable, TargetColumn

T = TypeVar("T")
VERIFY_MODES = ("counts", "checksums", "off")
ROWS_PER_BUCKET = 50_000  # small enough to drill into, large enough to keep the GROUP BY cheap
MAX_BUCKETS_DRILLED = 5
MAX_ROWS_REPORTED = 20
INTEGER_TYPES = ("smallint", "integer", "bigint")  # target (PostgreSQL) type names


class VerificationFailed(Exception):
    """Source and target differ; the message is the table of differences. Not worth retrying."""


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


def integer_key(table: SourceTable, columns: Sequence[TargetColumn]) -> str | None:
    """The table's single integer primary-key column, if it has one."""
    if len(table.primary_key) != 1:
        return None
    key = table.primary_key[0]
    column = next((c for c in columns if c.name == key), None)
    return key if column is not None and column.pg_type.split("(")[0] in INTEGER_TYPES else None


def bucket_width(low: int | None, high: int | None, rows: int) -> int:
    """A key-range width giving about ROWS_PER_BUCKET rows per bucket."""
    if low is None or high is None or rows == 0:
        return 1
    return max(1, (high - low + 1) * ROWS_PER_BUCKET // rows)


def verify_table(
    *,
    mode: str,
    source: SourceDialect,
    source_conn: Any,
    source_table: SourceTable,
    target: SourceDialect,
    target_conn: Any,
    target_table: SourceTable,
    columns: Sequence[TargetColumn],
    nul_policy: str,
    copied_rows: int | None = None,
) -> TableVerification:
    """Compare ``source_table`` with ``target_table``; ``copied_rows`` replaces the target count in append mode."""
    if mode not in VERIFY_MODES:
        raise ValueError(f"verify must be one of {VERIFY_MODES}, got {mode!r}")
    name = source_table.qualified
    if mode != "checksums" or copied_rows is not None:
        source_rows, target_rows = _on_both_sides(
            lambda: source.count_rows(source_conn, source_table),
            lambda: copied_rows if copied_rows is not None else target.count_rows(target_conn, target_table),
        )
        return TableVerification(name, mode, source_rows, target_rows)
    # The bucket sums carry each side's row count, so no count(*) scan: the width only needs an
    # estimate. Checksums run even when the counts differ: the buckets say where the rows went.
    key = integer_key(source_table, columns)
    low, high = source.key_bounds(source_conn, source_table, key) if key else (None, None)
    estimate = source_table.approx_rows if source_table.approx_rows > 0 else None
    if key and estimate is None:
        estimate = source.count_rows(source_conn, source_table)
    width = bucket_width(low, high, estimate or 0)
    kwargs = {"key": key, "width": width, "nul_policy": nul_policy}
    source_sums, target_sums = _on_both_sides(
        lambda: source.bucket_checksums(source_conn, source_table, columns, **kwargs),
        lambda: target.bucket_checksums(target_conn, target_table, columns, **kwargs),
    )
    source_rows = sum(b.rows for b in source_sums.values())
    target_rows = sum(b.rows for b in target_sums.values())
    differing = sorted(b for b in source_sums.keys() | target_sums.keys() if source_sums.get(b) != target_sums.get(b))
    rows = []
    if key:
        for bucket in differing[:MAX_BUCKETS_DRILLED]:
            rows.extend(
                _differing_rows(source, source_conn, source_table, target, target_conn, target_table, columns,
                                key=key, low=bucket * width, high=(bucket + 1) * width, nul_policy=nul_policy)
            )  # fmt: skip
    return TableVerification(
        table=name,
        mode=mode,
        source_rows=source_rows,
        target_rows=target_rows,
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


def _differing_rows(source, source_conn, source_table, target, target_conn, target_table, columns, **range_args):
    source_hashes = source.row_hashes(source_conn, source_table, columns, **range_args)
    target_hashes = target.row_hashes(target_conn, target_table, columns, **range_args)
    key = range_args["key"]
    found = []
    for value in sorted(source_hashes.keys() | target_hashes.keys()):
        if value not in target_hashes:
            found.append((f"{key}={value}", "missing in target"))
        elif value not in source_hashes:
            found.append((f"{key}={value}", "extra in target"))
        elif source_hashes[value] != target_hashes[value]:
            found.append((f"{key}={value}", "values differ"))
    return found


def verification_table(results: Sequence[TableVerification]) -> str:
    """The run's verification table: per table source rows, target rows, checksum match."""
    lines = [f"{'table':<28}{'source rows':>14}{'target rows':>14}  {'checksum':<10}{'result'}"]
    for r in results:
        checksum = {True: "match", False: "DIFFERS", None: "-"}[r.checksum_match]
        lines.append(
            f"{r.table:<28}{r.source_rows:>14,}{r.target_rows:>14,}  {checksum:<10}{'ok' if r.ok else 'FAILED'}"
        )
    return "\n".join(lines)
