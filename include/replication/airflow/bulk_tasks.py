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
from airflow.sdk.exceptions import AirflowFailException

from include.replication import bulk
from include.replication.airflow.connections import open_source, open_target
from include.replication.airflow.tasks import REPLICATED_TABLES, close_quietly, emit_asset, settings_of, table_of
from include.replication.copy.spool import CHUNK_BYTES
from include.replication.load import TableReport, peak_memory_mb
from include.replication.models import TableStats
from include.replication.partitions import Partition, plan_table
from include.replication.settings import ReplicationSettings
from include.replication.verify import VerificationFailed, integer_key

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
    settings = settings_of(plan)
    dialect, conn = open_source(settings.source_conn_id, read_mode=settings.source_read_mode)
    partitions: list[Partition] = []
    try:
        for name in plan["tables"]:
            table, columns = table_of(plan, name)
            key = integer_key(table, columns)
            total, points = dialect.key_distribution(conn, table, key) if key else (table.approx_rows, None)
            parts = plan_table(name, key=key, total_rows=total, points=points, partition_rows=settings.partition_rows)
            log.info("%s: %d partition(s) of ~%s rows%s", name, len(parts), f"{parts[0].estimated_rows:,}",
                     f" ({parts[0].note})" if parts[0].note else "")  # fmt: skip
            partitions.extend(parts)
    finally:
        close_quietly(conn)
    return [p.to_dict() for p in partitions]


@task
def prepare_staging_tables(plan: dict[str, Any]) -> list[str]:
    """An empty ``<table>__staging`` (with its primary key) per table; the live tables are untouched."""
    settings = settings_of(plan)
    conn = open_target(settings.target_conn_id)
    try:
        return [bulk.prepare_staging(conn, settings.target_schema, *table_of(plan, name)) for name in plan["tables"]]
    finally:
        close_quietly(conn)


@task(multiple_outputs=False)
def extract_partition(partition: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
    """Write one partition's rows to its staged file; return where, how many rows and bytes."""
    started = time.monotonic()
    part = Partition.from_dict(partition)
    settings = settings_of(plan)
    table, columns = table_of(plan, part.table)
    folder = table_folder(settings, part.table)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{part.index:05d}.copy"
    dialect, conn = open_source(settings.source_conn_id, read_mode=settings.source_read_mode)
    try:
        with path.open("wb") as out:
            result = bulk.extract_partition(dialect, conn, table, columns, part, out, nul_policy=settings.nul_policy)
    finally:
        close_quietly(conn)
    size = path.stat().st_size
    log.info("%s: %s rows, %.1f MB staged at %s", part.name, f"{result.rows:,}", size / 2**20, path)
    return {
        "partition": partition,
        "path": str(path),
        "rows": result.rows,
        "bytes": size,
        "nul_stripped": dict(result.nul_stripped),
        "extract_seconds": round(time.monotonic() - started, 3),
        "extract_peak_mb": round(peak_memory_mb(), 1),
    }


def _file_chunks(path: ObjectStoragePath) -> Iterator[bytes]:
    with path.open("rb") as staged:
        while data := staged.read(CHUNK_BYTES):
            yield data


@task(multiple_outputs=False, pool=COPY_POOL)
def load_partition(extracted: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
    """COPY one staged file into the staging table: one transaction that first clears its key range."""
    started = time.monotonic()
    part = Partition.from_dict(extracted["partition"])
    settings = settings_of(plan)
    table, columns = table_of(plan, part.table)
    conn = open_target(settings.target_conn_id)
    try:
        rows = bulk.load_partition(conn, schema=settings.target_schema, table=table, columns=columns, partition=part,
                                   chunks=_file_chunks(ObjectStoragePath(extracted["path"])),
                                   expected_rows=extracted["rows"])  # fmt: skip
    finally:
        close_quietly(conn)
    seconds = round(time.monotonic() - started, 3)
    log.info("%s: %s rows loaded in %.1f s", part.name, f"{rows:,}", seconds)
    return {**extracted, "load_seconds": seconds, "load_peak_mb": round(peak_memory_mb(), 1)}


@task(multiple_outputs=False, outlets=[REPLICATED_TABLES])
def finish_table(table_name: str, plan: dict[str, Any]) -> dict[str, Any]:
    """Verify the loaded staging table against the source, swap it in, then remove its staged files."""
    started = time.monotonic()
    settings = settings_of(plan)
    table, columns = table_of(plan, table_name)
    dialect, source_conn = open_source(settings.source_conn_id, read_mode=settings.source_read_mode)
    target_conn = open_target(settings.target_conn_id)
    try:
        verification = bulk.finish_table(dialect, source_conn, target_conn, table, columns, settings.load_settings())
    except VerificationFailed as exc:
        raise AirflowFailException(f"verification failed, target table left unchanged:\n{exc}") from exc
    finally:
        close_quietly(source_conn, target_conn)
    remove_staged(table_folder(settings, table_name))
    emit_asset(settings, table_name)
    stats = TableStats(table=table.qualified, rows=verification.target_rows, seconds=round(time.monotonic() - started, 3),
                       peak_memory_mb=round(peak_memory_mb(), 1))  # fmt: skip
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
    """The selected tables (finish_table is mapped over them)."""
    return list(plan["tables"])
