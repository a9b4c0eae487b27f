"""The bulk DAG's ``@task`` wrappers: plan partitions, stage them on object storage, load, finish.

Staged files live under ``staging_url`` (an ``ObjectStoragePath``: a local folder by default,
``s3://bucket/prefix`` or any fsspec URL for workers on several machines) as
``<dag_id>/<run_id>/<table>/<partition>.copy``, and are removed once their table verifies.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from airflow.sdk import ObjectStoragePath, get_current_context, task

from include.replication import load
from include.replication.airflow.connections import open_source, open_target
from include.replication.airflow.limits import SOURCE_POOL
from include.replication.airflow.lineage import report_lineage
from include.replication.airflow.tasks import REPLICATED_TABLES, close_quietly, connected, emit_asset, failing_checks
from include.replication.copy.spool import CHUNK_BYTES
from include.replication.levels import LOAD_PRIORITY, OTHER_TABLES_PRIORITY
from include.replication.partitions import Partition, plan_table
from include.replication.plan import ReplicationPlan
from include.replication.report import PartitionReport, TableReport, TableStats, peak_memory_mb
from include.replication.settings import ReplicationSettings

log = logging.getLogger(__name__)

# Pools are fixed when the DAG is parsed, so the pool's name comes from the environment, not a Param.
COPY_POOL = os.environ.get("STACKOVERFLOW_COPY_POOL", "postgres_copy_sessions")


def staging_root(settings: ReplicationSettings) -> ObjectStoragePath:
    """The staging location: ``staging_url``, else ``$AIRFLOW_HOME/replication-staging``."""
    if settings.staging_url:
        return ObjectStoragePath(settings.staging_url)
    home = Path(os.environ.get("AIRFLOW_HOME") or tempfile.gettempdir())
    return ObjectStoragePath((home / "replication-staging").resolve().as_uri())


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", part)


def table_folder(settings: ReplicationSettings, table: str) -> ObjectStoragePath:
    context = get_current_context()
    return staging_root(settings) / _safe(context["dag"].dag_id) / _safe(context["run_id"]) / _safe(table)


@task(multiple_outputs=False)
def plan_partitions(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Key ranges of about ``partition_rows`` rows per table, from each key's statistics."""
    run = ReplicationPlan.from_dict(plan)
    source = open_source(
        run.settings.source_conn_id, read_mode=run.settings.source_read_mode, target_engine=run.target_engine
    )
    partitions: list[Partition] = []
    try:
        for name in largest_first(run):
            table = run.tables[name]
            key = table.integer_key
            spread = source.key_distribution(table, key) if key else None
            parts = plan_table(
                name,
                key=key,
                total_rows=spread.rows if spread else table.approx_rows,
                points=spread.points if spread else None,
                partition_rows=run.settings.partition_rows,
                basis=spread.basis if spread else "",
            )
            log.info("%s: %d partition(s) of ~%s rows%s", name, len(parts), f"{parts[0].estimated_rows:,}",
                     f" ({parts[0].note})" if parts[0].note else "")  # fmt: skip
            partitions.extend(parts)
    finally:
        close_quietly(source)
    return [p.to_dict() for p in partitions]


@task
def prepare_staging_tables(plan: dict[str, Any]) -> list[str]:
    """An empty staging table (with its primary key) per table; the live tables are untouched."""
    run = ReplicationPlan.from_dict(plan)
    target = open_target(run.settings.target_conn_id, engine=run.target_engine)
    try:
        return [load.prepare_staging(run.job(name), target=target).name for name in run.tables]
    finally:
        close_quietly(target)


@task(multiple_outputs=False, pool=SOURCE_POOL)
def extract_partition(partition: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
    """Write one partition's rows to its staged file; return where, how many rows and bytes."""
    started = time.monotonic()
    part = Partition.from_dict(partition)
    run = ReplicationPlan.from_dict(plan)
    folder = table_folder(run.settings, part.table)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{part.index:05d}.copy"
    source = open_source(
        run.settings.source_conn_id, read_mode=run.settings.source_read_mode, target_engine=run.target_engine
    )
    try:
        with path.open("wb") as out:
            result = load.extract_partition(run.job(part.table), part, source=source, out=out)
    finally:
        close_quietly(source)
    size = path.stat().st_size
    log.info("%s: %s rows, %.1f MB staged at %s", part.name, f"{result.rows:,}", size / 2**20, path)
    return PartitionReport(
        partition=part,
        path=str(path),
        rows=result.rows,
        bytes=size,
        nul_stripped=dict(result.nul_stripped),
        extract_seconds=round(time.monotonic() - started, 3),
        extract_peak_mb=peak_memory_mb(),
    ).to_dict()


def _file_chunks(path: ObjectStoragePath) -> Iterator[bytes]:
    with path.open("rb") as staged:
        while data := staged.read(CHUNK_BYTES):
            yield data


@task(multiple_outputs=False, pool=COPY_POOL)
def load_partition(extracted: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
    """COPY one staged file into the staging table: one transaction that first clears its key range."""
    started = time.monotonic()
    staged = PartitionReport.from_dict(extracted)
    run = ReplicationPlan.from_dict(plan)
    target = open_target(run.settings.target_conn_id, engine=run.target_engine)
    try:
        rows = load.load_partition(run.job(staged.partition.table), staged.partition, target=target,
                                   chunks=_file_chunks(ObjectStoragePath(staged.path)),
                                   expected_rows=staged.rows)  # fmt: skip
    finally:
        close_quietly(target)
    seconds = round(time.monotonic() - started, 3)
    log.info("%s: %s rows loaded in %.1f s", staged.partition.name, f"{rows:,}", seconds)
    return staged.loaded(seconds=seconds, peak_mb=peak_memory_mb()).to_dict()


@task(multiple_outputs=False, outlets=[REPLICATED_TABLES], pool=SOURCE_POOL)  # verification reads the source
def finish_table(table_name: str, plan: dict[str, Any]) -> dict[str, Any]:
    """Verify the loaded staging table against one source snapshot (re-copying what changed since the partitions
    were read), swap it in, then remove its staged files."""
    started = time.monotonic()
    run = ReplicationPlan.from_dict(plan)
    job = run.job(table_name)
    report_lineage(run, table_name)
    phases = load.Phases()
    with failing_checks(), connected(run) as (source, target):
        verification, recopied, snapshot = load.swap_in_staged(
            job, source=source, target=target, phases=phases, on_progress=log.info
        )
    remove_staged(table_folder(run.settings, table_name))
    emit_asset(run, table_name)
    stats = TableStats(table=job.table.qualified, rows=verification.target_rows,
                       seconds=round(time.monotonic() - started, 3), peak_memory_mb=peak_memory_mb(),
                       phases=phases.seconds, snapshot=snapshot.description, recopied_rows=recopied.rows,
                       recopied_keys=recopied.keys, recopied_runs=recopied.runs)  # fmt: skip
    return TableReport(stats, verification).to_dict()


def remove_staged(folder: ObjectStoragePath) -> None:
    """Delete a table's staged files, then the run's folder once the last table has gone."""
    if folder.exists():
        folder.rmdir(recursive=True)
    run_folder = folder.parent
    try:
        if run_folder.exists() and not any(run_folder.iterdir()):
            run_folder.rmdir()
    except OSError:  # another table finishing at the same moment: whoever is last removes it
        pass


@task
def list_tables(plan: dict[str, Any]) -> list[str]:
    """The selected tables, largest first (finish_table is mapped over them)."""
    return largest_first(ReplicationPlan.from_dict(plan))


def largest_first(run: ReplicationPlan) -> list[str]:
    """The planned tables in the streaming DAG's order (``LOAD_PRIORITY``; the others as its extras), then by rows.

    A mapped task's instances share one priority_weight; among equal weights the scheduler queues
    them by map index, so the order of the list they are mapped over is the order they start in.
    Rows alone put Posts (3.7M rows, but 4.3 GB: a partition loads in 10-16 s) after Votes and
    Comments (1 s), and its partitions ended the loads last (bench, scale 1).
    """
    return sorted(run.tables, key=lambda name: (-LOAD_PRIORITY.get(name, OTHER_TABLES_PRIORITY),
                                                -run.tables[name].approx_rows))  # fmt: skip
