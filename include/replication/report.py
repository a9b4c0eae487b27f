"""What a run did, per table and per partition, and the run summary built from those reports.

Tasks return these records as plain dicts (XCom); ``run_summary`` receives them back and writes
the tables an operator reads in the ``summarize`` task's log.
"""

from __future__ import annotations

import resource
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from include.replication.foreign_keys import ForeignKeyReport, Status
from include.replication.partitions import Partition
from include.replication.settings import MB
from include.replication.verify import TableVerification


def peak_memory_mb() -> float:
    """This process's peak resident memory so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / MB if sys.platform == "darwin" else peak / 1024, 1)


@dataclass(frozen=True)
class TableStats:
    """What one table load did: the run summary's row."""

    table: str
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    peak_memory_mb: float = 0.0
    spilled_bytes: int = 0
    nul_stripped: dict[str, int] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step: copy, primary key, ..., swap
    load_mode: str = "replace"
    snapshot: str = ""  # the source snapshot the table was read in, or why there was none
    recopied_rows: int = 0  # rows read again because the target differed (sync; a copy without a snapshot)
    recopied_keys: int = 0  # key values deleted and re-read
    recopied_runs: int = 0  # runs of consecutive keys they formed
    compared_rows: int = 0  # sync: source rows compared by checksum
    note: str = ""  # e.g. why a sync replaced the whole table

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class TableReport:
    """One table's outcome: the run summary row and its verification."""

    stats: TableStats
    verification: TableVerification

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableReport:
        return cls(TableStats(**data["stats"]), TableVerification.from_dict(data["verification"]))


@dataclass(frozen=True)
class PartitionReport:
    """One partition of the bulk DAG: staged by its extract task, then loaded by its load task."""

    partition: Partition
    path: str
    rows: int
    bytes: int
    nul_stripped: dict[str, int]
    extract_seconds: float
    extract_peak_mb: float
    load_seconds: float = 0.0
    load_peak_mb: float = 0.0

    def loaded(self, *, seconds: float, peak_mb: float) -> PartitionReport:
        """This report with its load task's figures."""
        return replace(self, load_seconds=seconds, load_peak_mb=peak_mb)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartitionReport:
        return cls(**{**data, "partition": Partition.from_dict(data["partition"])})


def with_partitions(report: TableReport, partitions: Sequence[PartitionReport]) -> TableReport:
    """Bulk DAG: a table's bytes, seconds, peak memory and NUL counts include its partitions' tasks."""
    mine = [p for p in partitions if p.partition.table == report.stats.table.split(".", 1)[-1]]
    if not mine:
        return report
    stats = report.stats
    stripped = Counter(stats.nul_stripped)
    for p in mine:
        stripped.update(p.nul_stripped)
    return replace(
        report,
        stats=replace(
            stats,
            bytes=sum(p.bytes for p in mine),
            seconds=round(stats.seconds + sum(p.extract_seconds + p.load_seconds for p in mine), 3),
            peak_memory_mb=max([stats.peak_memory_mb, *(max(p.extract_peak_mb, p.load_peak_mb) for p in mine)]),
            nul_stripped=dict(stripped),
        ),
    )


def run_summary(
    reports: Sequence[TableReport], partitions: Sequence[PartitionReport] = (), *, keys: ForeignKeyReport | None = None
) -> dict[str, Any]:
    """The run's summary for XCom: every table's report, the partitions, the foreign keys, totals."""
    return {
        "tables": [r.to_dict() for r in reports],
        "partitions": [p.to_dict() for p in partitions],
        "foreign_keys": keys.to_dict() if keys else None,
        "totals": {
            "tables": len(reports),
            "rows": sum(r.stats.rows for r in reports),
            "bytes": sum(r.stats.bytes for r in reports),
            "all_verified": all(r.verification.ok for r in reports),
        },
    }


def verification_table(results: Sequence[TableVerification]) -> str:
    """The run's verification table: per table source rows, target rows, checksum match, the row hash compared."""
    lines = [f"{'table':<28}{'source rows':>14}{'target rows':>14}  {'checksum':<10}{'result':<8}row hash"]
    for r in results:
        checksum = {True: "match", False: "DIFFERS", None: "-"}[r.checksum_match]
        lines.append(
            f"{r.table:<28}{r.source_rows:>14,}{r.target_rows:>14,}  {checksum:<10}{'ok' if r.ok else 'FAILED':<8}"
            f"{r.hash_form.split('/')[0] or '-'}"
        )
    return "\n".join(lines)


PHASES = {"copy": "copy s", "primary key": "key s", "indexes": "index s", "verification": "verify s", "swap": "swap s"}


def summary_table(stats: Sequence[TableStats]) -> str:
    """Per table: rows, MB, seconds, rows/s, peak memory and each step's seconds; a totals row; NUL stripped."""
    steps = "".join(f"{label:>10}" for label in PHASES.values())
    lines = [f"{'table':<28}{'rows':>12}{'MB':>10}{'seconds':>10}{'rows/s':>12}{'peak MB':>10}{steps}"]
    for s in stats:
        lines.append(
            f"{s.table:<28}{s.rows:>12,}{s.bytes / MB:>10.1f}{s.seconds:>10.1f}{s.rows_per_second:>12,.0f}"
            f"{s.peak_memory_mb:>10.0f}" + "".join(f"{s.phases.get(name, 0.0):>10.1f}" for name in PHASES)
        )
    if len(stats) > 1:  # seconds add up task time; tables that ran side by side took less wall time
        rows, seconds = sum(s.rows for s in stats), sum(s.seconds for s in stats)
        lines.append(
            f"{f'total ({len(stats)} tables)':<28}{rows:>12,}{sum(s.bytes for s in stats) / MB:>10.1f}{seconds:>10.1f}"
            f"{rows / seconds if seconds else 0:>12,.0f}{max(s.peak_memory_mb for s in stats):>10.0f}"
            + "".join(f"{sum(s.phases.get(name, 0.0) for s in stats):>10.1f}" for name in PHASES)
        )
    stripped = [f"{s.table}.{column}: {n:,}" for s in stats for column, n in sorted(s.nul_stripped.items())]
    if stripped:
        lines.append("NUL characters stripped (nul_policy=strip): " + ", ".join(stripped))
    lines.extend(sync_lines(stats))
    return "\n".join(lines)


def sync_lines(stats: Sequence[TableStats]) -> list[str]:
    """What sync compared and re-copied per table, what copies re-copied, and which snapshot each table was read in."""
    lines = []
    synced = [s for s in stats if s.load_mode == "sync"]
    if synced:
        lines.append("Sync (rows compared by checksum; only keys that differ are re-copied):")
        for s in synced:
            what = (f"replaced whole: {s.note}" if s.note else
                    f"{s.compared_rows:,} rows compared, {s.recopied_keys:,} keys re-copied in {s.recopied_runs:,} "
                    f"ranges ({s.recopied_rows:,} rows read), {max(s.compared_rows - s.recopied_rows, 0):,} left alone")  # fmt: skip
            lines.append(f"  {s.table}: {what}")
    converged = [s for s in stats if s.load_mode != "sync" and s.recopied_keys]
    if converged:
        lines.append("Re-copied where the target differed from the source (read without a snapshot):")
        lines.extend(f"  {s.table}: {s.recopied_keys:,} keys in {s.recopied_runs:,} ranges" for s in converged)
    snapshots = [s for s in stats if s.snapshot]
    if snapshots:
        lines.append("Source read in:")
        lines.extend(f"  {s.table}: {s.snapshot}" for s in snapshots)
    return lines


def partition_table(partitions: Sequence[PartitionReport]) -> str:
    """Per partition: rows, MB, extract and load seconds, peak memory of each task."""
    lines = [f"{'partition':<28}{'rows':>12}{'MB':>9}{'extract s':>11}{'load s':>9}{'peak MB':>9}"]
    for p in partitions:
        peak = max(p.extract_peak_mb, p.load_peak_mb)
        lines.append(
            f"{p.partition.name:<28}{p.rows:>12,}{p.bytes / MB:>9.1f}{p.extract_seconds:>11.1f}"
            f"{p.load_seconds:>9.1f}{peak:>9.0f}"
        )
    return "\n".join(lines)


def foreign_key_lines(report: ForeignKeyReport | None) -> list[str]:
    """What the run did with foreign keys: a count per status, then one line per key (dangling rows with samples).

    Nothing when no foreign key was touched (``foreign_keys=off`` on a target without any).
    """
    if report is None or not (report.released or report.outcomes or report.skipped):
        return []
    counts = Counter(o.status for o in report.outcomes)
    lines = [f"foreign_keys={report.mode.value}: "
             + ", ".join(f"{counts[s]} {s.value}" for s in Status if counts[s])
             + (f"; {len(report.released)} dropped for the loads and put back" if report.released else "")]  # fmt: skip
    for o in report.outcomes:
        line = f"  {o.status.value.upper() if o.status == Status.NOT_VALID else o.status.value:<16}{o.reference.name}: {o.reference.describe()}"
        if o.dangling_rows:
            line += (f": {o.dangling_rows:,} rows reference missing rows of {o.reference.referenced.name}, "
                     f"e.g. {', '.join(o.samples)}")  # fmt: skip
        if o.note:
            line += f" ({o.note})"
        lines.append(line + (f" [{o.origin.value}]" if o.origin.value != report.mode.value else ""))
    lines.extend(f"  skipped         {why}" for why in report.skipped)
    return lines
