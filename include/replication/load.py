"""Copy one table, or one partition of it, from a source into a target; prove it; swap it in.

Post-load steps run in a fixed order: data -> primary key and indexes -> verification -> swap
(which aligns the identity). One target transaction covers a table's steps, so a failure anywhere
(a killed connection, a failed check) leaves the previous table exactly as it was, and a retry
starts clean. In ``append`` mode rows are added to the existing table in one transaction instead;
in ``sync`` mode only the keys whose rows differ from the source are deleted and copied again.

A live source: the copy and the source side of its verification read one snapshot of the source
(``Source.snapshot``) where the source gives one, so writes during the run cannot fail it. Where
it gives none (a SQL Server database without ``ALLOW_SNAPSHOT_ISOLATION``, or
``source_snapshot=off``), the ranges that differ after the copy are re-copied and compared again
at once, up to ``RECOPY_ROUNDS`` times: each range is then proven as of the moment it was re-read.

The bulk DAG splits the same steps across tasks: ``prepare_staging`` once, ``extract_partition``
and ``load_partition`` per key range (a partition load clears its own range first, so a retried
partition never duplicates rows), then ``swap_in_staged``.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable
from contextlib import contextmanager
from typing import IO

from include.replication.copy.spool import SpoolStreamer, StreamStats
from include.replication.interfaces import ReadResult, Sink, Snapshot, Source, Target
from include.replication.models import KeyRange, KeySet, TableName
from include.replication.partitions import Partition
from include.replication.plan import PlanError, TableJob
from include.replication.report import TableReport, TableStats, peak_memory_mb
from include.replication.settings import MB, LoadMode, SnapshotMode
from include.replication.verify import (
    BucketComparison,
    Side,
    TableVerification,
    VerificationFailed,
    compare_buckets,
    differing_keys,
    verification_of,
    verify_table,
)


class PartitionLoadError(RuntimeError):
    """A staged file that does not hold what its extraction wrote (truncated or replaced)."""


Say = Callable[[str], None]
PROGRESS_SECONDS = 10  # a log line at least this often while a table copies
RECOPY_ROUNDS = 5  # without a snapshot: how often differing ranges are re-copied before the table fails
KEY_RUNS_PER_STATEMENT = 500  # runs of keys deleted and re-read per statement (sync, re-copies)


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


@dataclasses.dataclass(frozen=True)
class Recopied:
    """Keys re-copied because the target differed from the source (a sync, or a copy without a snapshot)."""

    rows: int = 0  # rows read again from the source
    keys: int = 0  # key values deleted and re-read (rows that were extra in the target are among them)
    runs: int = 0  # runs of consecutive keys: one range each
    bytes: int = 0
    nul_stripped: dict[str, int] = dataclasses.field(default_factory=dict)

    def __add__(self, other: Recopied) -> Recopied:
        return Recopied(self.rows + other.rows, self.keys + other.keys, self.runs + other.runs,
                        self.bytes + other.bytes, dict(Counter(self.nul_stripped) + Counter(other.nul_stripped)))  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Loaded:
    """What one table load did, for its report."""

    read: ReadResult
    bytes: int
    spilled_bytes: int
    verification: TableVerification
    recopied: Recopied = Recopied()
    note: str = ""  # why a sync replaced the whole table


@contextmanager
def source_snapshot(job: TableJob, source: Source, say: Say) -> Generator[Snapshot, None, None]:
    """The snapshot a table is read in, as ``source_snapshot`` asks (``require``: none is an error)."""
    if job.settings.source_snapshot == SnapshotMode.OFF:
        yield Snapshot(False, "no snapshot (source_snapshot=off)")
        return
    with source.snapshot() as snapshot:
        if not snapshot.taken and job.settings.source_snapshot == SnapshotMode.REQUIRE:
            raise PlanError(f"{job.table.qualified}: source_snapshot=require, but {snapshot.description}")
        say(f"{job.table.qualified}: reading in {snapshot.description}")
        yield snapshot


def replicate_table(
    job: TableJob, *, source: Source, target: Target, on_progress: Say = lambda message: None
) -> TableReport:
    """Copy ``job.table`` into the target, verify it and make it live; return its report."""
    started = time.monotonic()
    load = {LoadMode.REPLACE: _replace, LoadMode.APPEND: _append, LoadMode.SYNC: _sync}[job.settings.load_mode]
    phases = Phases()
    with target.transaction():
        target.claim(job.target)  # another run writing this table on this target: wait for it
        with source_snapshot(job, source, on_progress) as snapshot:  # after the wait: the freshest state
            loaded = load(job, source, target, snapshot, on_progress, phases)
    return TableReport(_stats(job, loaded, started, phases, snapshot), loaded.verification)


def _replace(
    job: TableJob, source: Source, target: Target, snapshot: Snapshot, on_progress: Say, phases: Phases
) -> Loaded:
    staging = target.staging_table(job.target)
    target.create_table(staging, job.columns, replace=True)
    with phases("copy"):
        read, stream = copy_rows(job, source=source, target=target, into=staging, fresh=True, on_progress=on_progress)
    on_progress(f"{job.table.qualified}: {read.rows:,} rows copied into {staging.qualified}")
    if job.table.primary_key:
        with phases("primary key"):
            target.add_primary_key(staging, job.table.primary_key)
    verification, recopied = prove_and_swap(
        job, source=source, target=target, staging=staging, snapshot=snapshot, phases=phases, on_progress=on_progress
    )
    return Loaded(read, stream.bytes, stream.spilled_bytes, verification, recopied)


def _append(
    job: TableJob, source: Source, target: Target, snapshot: Snapshot, on_progress: Say, phases: Phases
) -> Loaded:
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
        verification, _ = prove(
            job, source=source, target=target, table=job.target, snapshot=snapshot, copied_rows=read.rows
        )
    target.align_identity(job.target, job.columns)
    return Loaded(read, stream.bytes, stream.spilled_bytes, verification)


def _sync(
    job: TableJob, source: Source, target: Target, snapshot: Snapshot, on_progress: Say, phases: Phases
) -> Loaded:
    """Re-copy only the keys whose rows differ; a table that cannot be synced is replaced whole, saying why."""
    name = job.table.qualified

    def replace_whole(why: str) -> Loaded:
        on_progress(f"{name}: {why}; replacing the whole table")
        return dataclasses.replace(_replace(job, source, target, snapshot, on_progress, phases), note=why)

    if why := sync_refusal(job, target):
        return replace_whole(why)
    sides = Side(source, job.table), Side(target, job.target)
    with phases("compare"):
        comparison = compare_buckets(*sides, job.columns, nul_policy=job.settings.nul_policy)
    differing = comparison.differing
    on_progress(
        f"{name}: {len(differing):,} of {comparison.buckets:,} key ranges differ "
        f"({comparison.source_rows:,} source rows, {comparison.target_rows:,} target rows)"
    )
    if not differing:
        verification = verification_of(comparison, name=name, source=sides[0], target=sides[1], columns=job.columns,
                                       nul_policy=job.settings.nul_policy)  # fmt: skip
        return Loaded(ReadResult(0, {}), 0, 0, verification)
    if comparison.key is None:
        return replace_whole("it has no single integer key to compare ranges by, and its checksum differs")
    with phases("re-copy"):
        verification, recopied = converge(job, source=source, target=target, table=job.target,
                                          comparison=comparison, on_progress=on_progress)  # fmt: skip
    target.align_identity(job.target, job.columns)
    read = ReadResult(recopied.rows, recopied.nul_stripped)
    return Loaded(read, recopied.bytes, 0, verification, recopied)


def sync_refusal(job: TableJob, target: Target) -> str:
    """Why ``job.target`` cannot be synced (missing, or other columns or key than the copy would create); "" if it can.

    The comparison is the target's own spelling of both tables: an empty table created as the
    copy would create it, then dropped again.
    """
    live = target.shape(job.target)
    if live is None:
        return f"{job.target.qualified} does not exist on the target"
    staging = target.staging_table(job.target)
    target.create_table(staging, job.columns, replace=True)
    if job.table.primary_key:
        target.add_primary_key(staging, job.table.primary_key)
    wanted = target.shape(staging)
    target.drop_table(staging)
    if wanted is None or live[1] != wanted[1]:
        return f"{job.target.qualified} has primary key ({', '.join(live[1])}), the source ({', '.join(job.table.primary_key)})"
    if live[0] != wanted[0]:
        changed = [f"{c[0]} {c[1]}" for c in wanted[0] if c not in live[0]] + [
            f"no {c[0]}" for c in live[0] if c[0] not in {w[0] for w in wanted[0]}
        ]
        return f"{job.target.qualified} has other columns than the source's ({', '.join(changed) or 'order differs'})"
    return ""


def copy_rows(
    job: TableJob,
    *,
    source: Source,
    target: Target,
    into: TableName,
    fresh: bool,
    on_progress: Say | None = None,
    key_range: KeyRange | KeySet | None = None,
) -> tuple[ReadResult, StreamStats]:
    """Stream the source's rows (or a key range's) through a bounded spool into ``into`` (``fresh``: created in this transaction).

    With ``on_progress``, a line at least every ``PROGRESS_SECONDS`` says how far the read is.
    """
    streamer = SpoolStreamer(buffer_bytes=job.settings.buffer_bytes)
    progress = Progress(job, on_progress) if on_progress else None

    def read(sink: Sink) -> ReadResult:
        watched = progress.watching(sink) if progress else sink
        return source.stream_rows(
            job.table, job.columns, watched, nul_policy=job.settings.nul_policy, key_range=key_range
        )

    return streamer.run(read=read, write=lambda chunks: target.copy_in(into, job.columns, chunks, fresh=fresh))


def prove(
    job: TableJob,
    *,
    source: Source,
    target: Target,
    table: TableName,
    snapshot: Snapshot,
    copied_rows: int | None = None,
    on_progress: Say = lambda message: None,
) -> tuple[TableVerification, Recopied]:
    """Verify ``table`` against the source as ``job.settings.verify`` says; ``VerificationFailed`` if they differ.

    Without a snapshot a difference may be the source changing under the copy: the differing
    ranges are re-copied and compared again (``converge``), except in append mode, whose
    appended rows are not the whole table.
    """
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
    if result.ok:
        return result, Recopied()
    if snapshot.taken or copied_rows is not None or job.table.integer_key is None:
        raise VerificationFailed(result.describe())
    on_progress(f"{job.table.qualified}: differs from the source after the copy, read without a snapshot "
                f"({snapshot.description}); re-copying the ranges that differ")  # fmt: skip
    return converge(job, source=source, target=target, table=table, on_progress=on_progress)


def converge(
    job: TableJob,
    *,
    source: Source,
    target: Target,
    table: TableName,
    comparison: BucketComparison | None = None,
    on_progress: Say = lambda message: None,
) -> tuple[TableVerification, Recopied]:
    """Re-copy the keys that differ, then compare those ranges again at once; up to ``RECOPY_ROUNDS`` rounds.

    Ranges that compared equal are not read again. ``VerificationFailed`` if differences remain.
    """
    sides = Side(source, job.table), Side(target, table)
    nul_policy = job.settings.nul_policy
    comparison = comparison or compare_buckets(*sides, job.columns, nul_policy=nul_policy)
    recopied = Recopied()
    for _ in range(RECOPY_ROUNDS):
        differing = comparison.differing
        if not differing:
            break
        keys = differing_keys(comparison, differing, source=sides[0], target=sides[1], columns=job.columns,
                              nul_policy=nul_policy)  # fmt: skip
        recopied += recopy(job, source=source, target=target, table=table, keys=keys)
        fresh = compare_buckets(*sides, job.columns, nul_policy=nul_policy, width=comparison.width,
                                key_range=comparison.ranges(differing), form=comparison.form)  # fmt: skip
        comparison = comparison.with_fresh(differing, fresh)
        on_progress(f"{job.table.qualified}: re-copied {keys.keys:,} keys in {len(keys.runs):,} runs; "
                    f"{len(comparison.differing):,} key ranges still differ")  # fmt: skip
    verification = verification_of(comparison, name=job.table.qualified, source=sides[0], target=sides[1],
                                   columns=job.columns, nul_policy=nul_policy)  # fmt: skip
    if not verification.ok:
        raise VerificationFailed(
            f"still differs after {RECOPY_ROUNDS} rounds of re-copying (is the source changing faster than it "
            f"can be copied?)\n{verification.describe()}"
        )
    return verification, recopied


def recopy(job: TableJob, *, source: Source, target: Target, table: TableName, keys: KeySet) -> Recopied:
    """Delete ``keys`` from ``table`` and copy them again from the source, ``KEY_RUNS_PER_STATEMENT`` runs at a time."""
    done = Recopied(keys=keys.keys, runs=len(keys.runs))
    for batch in keys.batches(KEY_RUNS_PER_STATEMENT):
        target.clear_range(table, batch)
        read, stream = copy_rows(job, source=source, target=target, into=table, fresh=False, key_range=batch)
        done += Recopied(rows=read.rows, bytes=stream.bytes, nul_stripped=dict(read.nul_stripped))
    return done


def prove_and_swap(
    job: TableJob,
    *,
    source: Source,
    target: Target,
    staging: TableName,
    snapshot: Snapshot,
    phases: Phases | None = None,
    on_progress: Say = lambda message: None,
) -> tuple[TableVerification, Recopied]:
    """Secondary indexes, verification against the source, then the swap (inside the caller's transaction).

    A failed verification raises ``VerificationFailed`` and the rollback leaves the live table as it was.
    """
    phases = phases or Phases()
    with phases("indexes"):
        target.create_indexes(staging, job.table.indexes)
    with phases("verification"):
        verification, recopied = prove(
            job, source=source, target=target, table=staging, snapshot=snapshot, on_progress=on_progress
        )
    with phases("swap"):
        target.swap(
            staging, job.target, columns=job.columns, indexes=job.table.indexes, has_key=bool(job.table.primary_key)
        )
    return verification, recopied


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


def swap_in_staged(
    job: TableJob, *, source: Source, target: Target, phases: Phases | None = None, on_progress: Say = lambda m: None
) -> tuple[TableVerification, Recopied, Snapshot]:
    """Bulk: verify the fully loaded staging table against the source and swap it in, in one transaction.

    The partitions were read at different moments; a live source has changed between them. The
    verification reads one snapshot of the source, and the ranges that differ from it are
    re-copied from that same snapshot before the swap: the table goes live as of that snapshot.
    """
    with target.transaction():
        target.claim(job.target)
        with source_snapshot(job, source, on_progress) as snapshot:
            staging = target.staging_table(job.target, bulk=True)
            # Not read in this snapshot: a difference is re-copied from it (prove's path without a snapshot).
            verification, recopied = prove_and_swap(
                job, source=source, target=target, staging=staging, snapshot=Snapshot(False, "partitions read earlier"),
                phases=phases, on_progress=on_progress,
            )  # fmt: skip
    return verification, recopied, snapshot


def _stats(job: TableJob, loaded: Loaded, started: float, phases: Phases, snapshot: Snapshot) -> TableStats:
    return TableStats(
        table=job.table.qualified,
        rows=loaded.read.rows,
        bytes=loaded.bytes,
        seconds=round(time.monotonic() - started, 3),
        peak_memory_mb=peak_memory_mb(),
        spilled_bytes=loaded.spilled_bytes,
        nul_stripped=dict(loaded.read.nul_stripped),
        phases=phases.seconds,
        load_mode=job.settings.load_mode.value,
        snapshot=snapshot.description,
        recopied_rows=loaded.recopied.rows,
        recopied_keys=loaded.recopied.keys,
        recopied_runs=loaded.recopied.runs,
        compared_rows=loaded.verification.source_rows if job.settings.load_mode == LoadMode.SYNC else 0,
        note=loaded.note,
    )
