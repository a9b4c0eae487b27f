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
from collections.abc import Callable, Iterable
from typing import IO

from include.replication.copy.spool import SpoolStreamer, StreamStats
from include.replication.interfaces import ReadResult, Source, Target
from include.replication.models import TableName
from include.replication.partitions import Partition
from include.replication.plan import TableJob
from include.replication.report import TableReport, TableStats, peak_memory_mb
from include.replication.settings import LoadMode
from include.replication.verify import TableVerification, VerificationFailed, verify_table


class PartitionLoadError(RuntimeError):
    """A staged file that does not hold what its extraction wrote (truncated or replaced)."""


def replicate_table(
    job: TableJob, *, source: Source, target: Target, on_progress: Callable[[str], None] = lambda message: None
) -> TableReport:
    """Copy ``job.table`` into the target, verify it and make it live; return its report."""
    started = time.monotonic()
    load = _append if job.settings.load_mode == LoadMode.APPEND else _replace
    with target.transaction():
        read, stream, verification = load(job, source, target, on_progress)
    return TableReport(_stats(job, read, stream, started), verification)


Loaded = tuple[ReadResult, StreamStats, TableVerification]


def _replace(job: TableJob, source: Source, target: Target, on_progress: Callable[[str], None]) -> Loaded:
    staging = target.staging_table(job.target)
    target.create_table(staging, job.columns, replace=True)
    read, stream = copy_rows(job, source=source, target=target, into=staging, fresh=True)
    on_progress(f"{job.table.qualified}: {read.rows:,} rows copied into {staging.qualified}")
    if job.table.primary_key:
        target.add_primary_key(staging, job.table.primary_key)
    return read, stream, prove_and_swap(job, source=source, target=target, staging=staging)


def _append(job: TableJob, source: Source, target: Target, on_progress: Callable[[str], None]) -> Loaded:
    if not target.exists(job.target):
        target.create_table(job.target, job.columns, replace=False)
        if job.table.primary_key:
            target.add_primary_key(job.target, job.table.primary_key)
    read, stream = copy_rows(job, source=source, target=target, into=job.target, fresh=False)
    on_progress(f"{job.table.qualified}: {read.rows:,} rows appended to {job.target.qualified}")
    verification = prove(job, source=source, target=target, table=job.target, copied_rows=read.rows)
    target.align_identity(job.target, job.columns)
    return read, stream, verification


def copy_rows(
    job: TableJob, *, source: Source, target: Target, into: TableName, fresh: bool
) -> tuple[ReadResult, StreamStats]:
    """Stream the source's rows through a bounded spool into ``into`` (``fresh``: created in this transaction)."""
    streamer = SpoolStreamer(buffer_bytes=job.settings.buffer_bytes)
    return streamer.run(
        read=lambda sink: source.stream_rows(job.table, job.columns, sink, nul_policy=job.settings.nul_policy),
        write=lambda chunks: target.copy_in(into, job.columns, chunks, fresh=fresh),
    )


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


def prove_and_swap(job: TableJob, *, source: Source, target: Target, staging: TableName) -> TableVerification:
    """Secondary indexes, verification against the source, then the swap (inside the caller's transaction).

    A failed verification raises ``VerificationFailed`` and the rollback leaves the live table as it was.
    """
    target.create_indexes(staging, job.table.indexes)
    verification = prove(job, source=source, target=target, table=staging)
    target.swap(
        staging, job.target, columns=job.columns, indexes=job.table.indexes, has_key=bool(job.table.primary_key)
    )
    return verification


def prepare_staging(job: TableJob, *, target: Target) -> TableName:
    """Bulk: an empty staging table with the primary key, committed; partitions load into it."""
    with target.transaction():
        staging = target.staging_table(job.target)
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
    staging = target.staging_table(job.target)
    with target.transaction():
        target.clear_range(staging, partition.key_range())
        loaded = target.copy_in(staging, job.columns, chunks, fresh=False)
        if loaded != expected_rows:
            raise PartitionLoadError(
                f"{partition.name}: the staged file held {loaded:,} rows, its extraction wrote {expected_rows:,}"
            )
    return loaded


def swap_in_staged(job: TableJob, *, source: Source, target: Target) -> TableVerification:
    """Bulk: verify the fully loaded staging table against the source and swap it in, in one transaction."""
    with target.transaction():
        return prove_and_swap(job, source=source, target=target, staging=target.staging_table(job.target))


def _stats(job: TableJob, read: ReadResult, stream: StreamStats, started: float) -> TableStats:
    return TableStats(
        table=job.table.qualified,
        rows=read.rows,
        bytes=stream.bytes,
        seconds=round(time.monotonic() - started, 3),
        peak_memory_mb=peak_memory_mb(),
        spilled_bytes=stream.spilled_bytes,
        nul_stripped=dict(read.nul_stripped),
    )
