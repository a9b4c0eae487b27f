"""Split a table into primary-key ranges of about ``partition_rows`` rows each.

Boundaries come from the key's distribution as the source's statistics describe it (PostgreSQL
``pg_stats.histogram_bounds``, SQL Server's statistics histogram): a handful of points
``(key value, rows up to and including it)``, read in one catalog query. Between two points
the keys are assumed evenly spread, so sparse and skewed ids still give balanced partitions;
there is no OFFSET paging and no scan of the table.

The first partition has no lower bound and the last no upper bound: every row belongs to
exactly one partition whatever the statistics say, so stale statistics can only unbalance a
plan, never lose or duplicate a row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from include.replication.models import KeyRange


@dataclass(frozen=True)
class KeyDistribution:
    """A key's distribution as a source describes it: rows, ``(key, cumulative rows)`` points, and from what."""

    rows: int
    points: list[tuple[int, float]]
    basis: str  # "statistics histogram", or why exact quantiles were taken instead


@dataclass(frozen=True)
class Partition:
    """One unit of extraction and loading: ``[low, high)`` of the key (None: open end or no key)."""

    table: str
    index: int
    count: int  # partitions of this table
    key: str | None
    low: int | None
    high: int | None
    estimated_rows: int
    note: str = ""

    @property
    def name(self) -> str:
        return f"{self.table}[{self.index + 1}/{self.count}]"

    def key_range(self) -> KeyRange | None:
        if self.key is None or (self.low is None and self.high is None):
            return None
        return KeyRange(self.key, self.low, self.high)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Partition:
        return cls(**data)


def boundaries(points: Sequence[tuple[int, float]], *, total_rows: float, parts: int) -> list[int]:
    """Key values splitting the distribution into ``parts`` equal shares (strictly increasing ints).

    ``points`` are ``(key, cumulative rows)`` pairs in key order, the first one holding the
    smallest key; between two points keys are assumed evenly spread.
    """
    if parts <= 1 or len(points) < 2 or total_rows <= 0:
        return []
    cuts: list[int] = []
    segment = 0
    for j in range(1, parts):
        target = total_rows * j / parts
        while segment < len(points) - 2 and points[segment + 1][1] < target:
            segment += 1
        (k0, c0), (k1, c1) = points[segment], points[segment + 1]
        fraction = 0.0 if c1 <= c0 else min(1.0, max(0.0, (target - c0) / (c1 - c0)))
        cut = math.floor(k0 + fraction * (k1 - k0)) + 1  # first key of the next partition
        if (not cuts or cut > cuts[-1]) and points[0][0] < cut <= points[-1][0]:
            cuts.append(cut)
    return cuts


def plan_table(
    table: str,
    *,
    key: str | None,
    total_rows: int,
    points: Sequence[tuple[int, float]] | None,
    partition_rows: int,
    basis: str = "",
) -> list[Partition]:
    """Partitions for one table: one when small or keyless, else about ``total_rows / partition_rows``.

    ``basis`` says where ``points`` came from; split partitions carry it in their note.
    """
    if key is None:
        return [Partition(table, 0, 1, None, None, None, total_rows, "no single integer key: one partition")]
    if total_rows <= partition_rows or not points:
        note = "" if total_rows <= partition_rows else "no key statistics: one partition"
        return [Partition(table, 0, 1, key, None, None, total_rows, note)]
    cuts = boundaries(points, total_rows=total_rows, parts=math.ceil(total_rows / partition_rows))
    edges: list[int | None] = [None, *cuts, None]
    count = len(edges) - 1
    share = total_rows // count
    note = f"ranges from {basis}" if basis else ""
    return [Partition(table, i, count, key, edges[i], edges[i + 1], share, note) for i in range(count)]


def histogram_points(bounds: Sequence[int], total_rows: float) -> list[tuple[int, float]]:
    """PostgreSQL's equi-depth histogram: bound i has ``i / (n - 1)`` of the rows at or below it."""
    if len(bounds) < 2:
        return []
    last = len(bounds) - 1
    return [(int(b), total_rows * i / last) for i, b in enumerate(bounds)]


def cumulative_points(steps: Sequence[tuple[int, float, float]]) -> list[tuple[int, float]]:
    """SQL Server's histogram steps ``(range_high_key, range_rows, eq_rows)`` as cumulative points."""
    points: list[tuple[int, float]] = []
    running = 0.0
    for high_key, range_rows, eq_rows in steps:
        running += float(range_rows) + float(eq_rows)
        points.append((int(high_key), running))
    return points
