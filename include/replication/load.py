"""Copy one table, or one partition of it, from a source into a target; prove it; swap it in.

Post-load steps run in a fixed order: data -> primary key and indexes -> verification -> swap
(which aligns the identity). One target transaction covers a table's steps, so a failure anywhere
(a killed connection, a failed check) leaves the previous table exactly as it was, and a retry
starts clean. In ``append`` mode rows are added to the existing table in one transaction instead.

The bulk DAG splits the same steps across tasks: ``prepare_staging`` once, ``extract_partition``
and ``load_partition`` per key range (a partition load clears its own range first, so a retried
partition never duplicates rows), then ``swap_in_staged``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable
from contextlib import contextmanager
from typing import IO

from include.replication.copy.spool import SpoolStreamer, StreamStats
from include.replication.interfaces import ReadResult, Sink, Source, Target
from include.replication.models import TableName
from include.replication.partitions import Partition
from include.replication.plan import TableJob
from include.replication.report import TableReport, TableStats, peak_memory_mb
from include.replication.settings import MB, LoadMode
from include.replication.verify import TableVerification, VerificationFailed, verify_table


class PartitionLoadError(RuntimeError):
    """A staged file that does not hold what its extraction wrote (truncated or replaced)."""


Say = Callable[[str], None]
PROGRESS_SECONDS = 10  # a log line at least this often while a table copies


class Phases:
    """Seconds spent in each step of one table's load, in the order the steps ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Generator[None, None, None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.monotonic() - started, 3)


class Progress:
    """Counts the COPY text a source writes and says, every ``PROGRESS_SECONDS``, how far the copy is."""

    def __init__(self, job: TableJob, say: Say, *, every: float = PROGRESS_SECONDS) -> None:
        self.job, self.say, self.every = job, say, every
        self.rows = self.bytes = 0
        self.started = self.last = time.monotonic()

    def watching(self, sink: Sink) -> Sink:
        """``sink``, counting what passes through it (each COPY text line ends in its one raw newline)."""

        def counted(data: bytes) -> None:
            sink(data)
            self.rows += data.count(b"\n")
            self.bytes += len(data)
            now = time.monotonic()
            if now - self.last >= self.every:
                self.last = now
                self.say(self.line(now))

        return counted

    def line(self, now: float) -> str:
        elapsed = now - self.started
        estimate = self.job.table.approx_rows
        share = f", {100 * self.rows / estimate:.0f}% of the ~{estimate:,} rows the catalog counts" if estimate else ""
        return (
            f"{self.job.table.qualified}: {self.rows:,} rows, {self.bytes / MB:,.1f} MB read in {elapsed:,.0f} s "
            f"({self.rows / elapsed:,.0f} rows/s){share}"
        )


def replicate_table(
    job: TableJob, *, source: Source, target: Target, on_progress: Say = lambda message: None
) -> TableReport:
    """Copy ``job.table`` into the target, verify it and make it live; return its report."""
    started = time.monotonic()
    load = _append if job.settings.load_mode == LoadMode.APPEND else _replace
    phases = Phases()
    with target.transaction():
        target.claim(job.target)  # another run writing this table on this target: wait for it
        read, stream, verification = load(job, source, target, on_progress, phases)
    return TableReport(_stats(job, read, stream, started, phases), verification)


Loaded = tuple[ReadResult, StreamStats, TableVerification]


def _replace(job: TableJob, source: Source, target: Target, on_progress: Say, phases: Phases) -> Loaded:
    staging = target.staging_table(job.target)
    target.create_table(staging, job.columns, replace=True)
    with phases("copy"):
        read, stream = copy_rows(job, source=source, target=target, into=staging, fresh=True, on_progress=on_progress)
    on_progress(f"{job.table.qualified}: {read.rows:,} rows copied into {staging.qualified}")
    if job.table.primary_key:
        with phases("primary key"):
            target.add_primary_key(staging, job.table.primary_key)
    return read, stream, prove_and_swap(job, source=source, target=target, staging=staging, phases=phases)


def _append(job: TableJob, source: Source, target: Target, on_progress: Say, phases: Phases) -> Loaded:
    if not target.exists(job.target):
        target.create_table(job.target, job.columns, replace=False)
        if job.table.primary_key:
            target.add_primary_key(job.target, job.table.primary_key)
    with phases("copy"):
        read, stream = copy_rows(
            job, source=source, target=target, into=job.target, fresh=False, on_progress=on_progress
        )
    on_progress(f"{job.table.qualified}: {read.rows:,} rows appended to {job.target.qualified}")
    with phases("verification"):
        verification = prove(job, source=source, target=target, table=job.target, copied_rows=read.rows)
    target.align_identity(job.target, job.columns)
    return read, stream, verification


def copy_rows(
    job: TableJob, *, source: Source, target: Target, into: TableName, fresh: bool, on_progress: Say | None = None
) -> tuple[ReadResult, StreamStats]:
    """Stream the source's rows through a bounded spool into ``into`` (``fresh``: created in this transaction).

    With ``on_progress``, a line at least every ``PROGRESS_SECONDS`` says how far the read is.
    """
    streamer = SpoolStreamer(buffer_bytes=job.settings.buffer_bytes)
    progress = Progress(job, on_progress) if on_progress else None

    def read(sink: Sink) -> ReadResult:
        watched = progress.watching(sink) if progress else sink
        return source.stream_rows(job.table, job.columns, watched, nul_policy=job.settings.nul_policy)

    return streamer.run(read=read, write=lambda chunks: target.copy_in(into, job.columns, chunks, fresh=fresh))


def prove(
    job: TableJob, *, source: Source, target: Target, table: TableName, copied_rows: int | None = None
) -> TableVerification:
    """Verify ``table`` against the source as ``job.settings.verify`` says; ``VerificationFailed`` if they differ."""
    result = verify_table(
        mode=job.settings.verify,
        source=source,
        source_table=job.table,
        target=target,
        target_table=table,
        columns=job.columns,
        nul_policy=job.settings.nul_policy,
        copied_rows=copied_rows,
    )
    if not result.ok:
        raise VerificationFailed(result.describe())
    return result


def prove_and_swap(
    job: TableJob, *, source: Source, target: Target, staging: TableName, phases: Phases | None = None
) -> TableVerification:
    """Secondary indexes, verification against the source, then the swap (inside the caller's transaction).

    A failed verification raises ``VerificationFailed`` and the rollback leaves the live table as it was.
    """
    phases = phases or Phases()
    with phases("indexes"):
        target.create_indexes(staging, job.table.indexes)
    with phases("verification"):
        verification = prove(job, source=source, target=target, table=staging)
    with phases("swap"):
        target.swap(
            staging, job.target, columns=job.columns, indexes=job.table.indexes, has_key=bool(job.table.primary_key)
        )
    return verification


def prepare_staging(job: TableJob, *, target: Target) -> TableName:
    """Bulk: an empty staging table with the primary key, committed; partitions load into it."""
    with target.transaction():
        staging = target.staging_table(job.target, bulk=True)
        target.create_table(staging, job.columns, replace=True)
        if job.table.primary_key:
            target.add_primary_key(staging, job.table.primary_key)
    return staging


def extract_partition(job: TableJob, partition: Partition, *, source: Source, out: IO[bytes]) -> ReadResult:
    """Bulk: write one partition's rows to ``out`` as COPY text."""
    return source.stream_rows(
        job.table, job.columns, out.write, nul_policy=job.settings.nul_policy, key_range=partition.key_range()
    )


def load_partition(
    job: TableJob, partition: Partition, *, target: Target, chunks: Iterable[bytes], expected_rows: int
) -> int:
    """Bulk: replace the partition's key range in the staging table with the staged rows, in one transaction."""
    staging = target.staging_table(job.target, bulk=True)
    with target.transaction():
        target.clear_range(staging, partition.key_range())
        loaded = target.copy_in(staging, job.columns, chunks, fresh=False)
        if loaded != expected_rows:
            raise PartitionLoadError(
                f"{partition.name}: the staged file held {loaded:,} rows, its extraction wrote {expected_rows:,}"
            )
    return loaded


def swap_in_staged(job: TableJob, *, source: Source, target: Target, phases: Phases | None = None) -> TableVerification:
    """Bulk: verify the fully loaded staging table against the source and swap it in, in one transaction."""
    with target.transaction():
        target.claim(job.target)
        staging = target.staging_table(job.target, bulk=True)
        return prove_and_swap(job, source=source, target=target, staging=staging, phases=phases)


def _stats(job: TableJob, read: ReadResult, stream: StreamStats, started: float, phases: Phases) -> TableStats:
    return TableStats(
        table=job.table.qualified,
        rows=read.rows,
        bytes=stream.bytes,
        seconds=round(time.monotonic() - started, 3),
        peak_memory_mb=peak_memory_mb(),
        spilled_bytes=stream.spilled_bytes,
        nul_stripped=dict(read.nul_stripped),
        phases=phases.seconds,
    )
