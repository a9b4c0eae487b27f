"""The records a benchmark run produces: per-table timings, per-process peaks, one contender's run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MB = 2**20


@dataclass(frozen=True)
class TableTiming:
    """One table in one contender's run: what moved and how long it took (None: did not finish)."""

    table: str
    rows: int
    bytes: int
    seconds: float | None
    note: str = ""


@dataclass(frozen=True)
class ProcessPeak:
    """The resident-memory high-water mark of one process seen during a run."""

    pid: int
    role: str
    title: str
    peak_mb: float
    task: str = ""  # the Airflow task instance (task_id[map_index]) this process ran, if any


@dataclass
class RunResult:
    """One contender, one repetition: total wall time, per-table timings, process peaks."""

    contender: str
    repetition: int
    seconds: float | None
    tables: list[TableTiming]
    processes: list[ProcessPeak] = field(default_factory=list)
    peak_concurrent_mb: float = 0.0
    ok: bool = True
    note: str = ""
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def peak_mb(self) -> float:
        """The largest single contender process: task processes for the DAGs, every process otherwise."""
        tasks = [p.peak_mb for p in self.processes if p.role == "task"]
        mine = tasks or [p.peak_mb for p in self.processes if p.role in ("process", "task")]
        return max(mine, default=0.0)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict, with the derived peak."""
        return {**asdict(self), "peak_mb": round(self.peak_mb, 1)}
