"""Replicate one table: stream it into a staging table, prove it, swap it in, in one transaction.

Post-load steps run in a fixed order: data -> primary key and indexes -> verification -> swap ->
identity alignment. The target transaction covers all of them, so a failure anywhere (a killed
connection, a failed check) leaves the previous table exactly as it was, and a retry starts clean.
In ``append`` mode rows are added to the existing table in one transaction instead.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable, Generator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from pg8000.native import Connection

from include.replication.copy.spool import MB, SpoolStreamer
from include.replication.interfaces import SourceDialect
from include.replication.models import SourceTable, TableStats, TargetColumn
from include.replication.postgres.ddl import (
    align_identity_sql,
    create_table_sql,
    derived_name,
    index_sql,
    primary_key_sql,
    staging_name,
    swap_sql,
)
from include.replication.postgres.source import PostgresDialect, prepare_session, qualified_name, quote
from include.replication.verify import TableVerification, VerificationFailed, verify_table

LOAD_MODES = ("replace", "append")


@dataclass(frozen=True)
class LoadSettings:
    """How to load one table; built once from the DAG's Params (see ``settings.py``)."""

    target_schema: str = "public"
    buffer_mb: int = 256
    nul_policy: str = "strip"
    verify: str = "checksums"
    load_mode: str = "replace"


@dataclass(frozen=True)
class TableReport:
    """One table's outcome: the run summary row and its verification."""

    stats: TableStats
    verification: TableVerification

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def peak_memory_mb() -> float:
    """This process's peak resident memory so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MB if sys.platform == "darwin" else peak / 1024


def replicate_table(
    *,
    source: SourceDialect,
    source_conn: Any,
    target_conn: Connection,
    table: SourceTable,
    columns: tuple[TargetColumn, ...],
    settings: LoadSettings,
    on_progress: Callable[[str], None] = lambda message: None,
) -> TableReport:
    """Copy ``table`` from the source into ``settings.target_schema`` and verify it; return its report."""
    if settings.load_mode not in LOAD_MODES:
        raise ValueError(f"load_mode must be one of {LOAD_MODES}, got {settings.load_mode!r}")
    started = time.monotonic()
    prepare_session(target_conn)
    load = _replace if settings.load_mode == "replace" else _append
    with transaction(target_conn):
        return load(source, source_conn, target_conn, table, columns, settings, on_progress, started)


def _replace(source, source_conn, target_conn, table, columns, settings, on_progress, started) -> TableReport:
    schema = settings.target_schema
    staging = create_staging(target_conn, schema, table, columns)
    rows, stats = _copy(source, source_conn, target_conn, table, columns, schema, staging, settings, freeze=True)
    on_progress(f"{table.qualified}: {rows.rows:,} rows copied into {schema}.{staging}")
    add_primary_key(target_conn, schema, staging, table)
    verification = verify_and_swap(source, source_conn, target_conn, table, columns, settings, staging=staging)
    return TableReport(_stats(table, rows, stats, started), verification)


def create_staging(conn: Connection, schema: str, table: SourceTable, columns: tuple[TargetColumn, ...]) -> str:
    """(Re)create ``<table>__staging`` with the target columns; return its name."""
    staging = staging_name(table.name)
    conn.run(f"DROP TABLE IF EXISTS {qualified_name(schema, staging)}")
    conn.run(create_table_sql(schema, staging, columns))
    return staging


def add_primary_key(conn: Connection, schema: str, staging: str, table: SourceTable) -> None:
    """The source's primary key on the staging table, under the name the swap renames."""
    if table.primary_key:
        conn.run(primary_key_sql(schema, staging, table.primary_key, name=derived_name(staging, "_pkey")))


def verify_and_swap(
    source: SourceDialect,
    source_conn: Any,
    target_conn: Connection,
    table: SourceTable,
    columns: tuple[TargetColumn, ...],
    settings: LoadSettings,
    *,
    staging: str,
) -> TableVerification:
    """Secondary indexes, verification against the source, swap, identity alignment, ANALYZE.

    Runs inside the caller's transaction: a failed verification raises ``VerificationFailed``
    and the rollback leaves the live table as it was.
    """
    schema = settings.target_schema
    for index in table.indexes:
        target_conn.run(index_sql(schema, staging, index, name=derived_name(index.name, "__staging")))
    staged = SourceTable(schema=schema, name=staging, columns=table.columns, primary_key=table.primary_key)
    verification = _verify(source, source_conn, target_conn, table, staged, columns, settings)
    sequence = _identity_sequence(target_conn, schema, staging, columns)
    key_name = derived_name(table.name, "_pkey") if table.primary_key else None
    for statement in swap_sql(schema, table.name, staging=staging, key_name=key_name):
        target_conn.run(statement)
    for index in table.indexes:
        target_conn.run(
            f"ALTER INDEX {qualified_name(schema, derived_name(index.name, '__staging'))} RENAME TO {quote(index.name)}"
        )
    if sequence:
        new_name = derived_name(table.name, "_" + _identity(columns) + "_seq")
        target_conn.run(f"ALTER SEQUENCE {sequence} RENAME TO {quote(new_name)}")
        sql, params = align_identity_sql(schema, table.name, _identity(columns))
        target_conn.run(sql, **params)
    target_conn.run(f"ANALYZE {qualified_name(schema, table.name)}")
    return verification


def _append(source, source_conn, target_conn, table, columns, settings, on_progress, started) -> TableReport:
    schema = settings.target_schema
    exists = target_conn.run("SELECT to_regclass(:name) IS NOT NULL", name=qualified_name(schema, table.name))[0][0]
    if not exists:
        target_conn.run(create_table_sql(schema, table.name, columns))
        if table.primary_key:
            key_name = derived_name(table.name, "_pkey")
            target_conn.run(primary_key_sql(schema, table.name, table.primary_key, name=key_name))
    rows, stats = _copy(source, source_conn, target_conn, table, columns, schema, table.name, settings, freeze=False)
    on_progress(f"{table.qualified}: {rows.rows:,} rows appended to {schema}.{table.name}")
    target = SourceTable(schema=schema, name=table.name, columns=table.columns, primary_key=table.primary_key)
    verification = _verify(source, source_conn, target_conn, table, target, columns, settings, copied_rows=rows.rows)
    if _identity(columns):
        sql, params = align_identity_sql(schema, table.name, _identity(columns))
        target_conn.run(sql, **params)
    return TableReport(_stats(table, rows, stats, started), verification)


def _copy(source, source_conn, target_conn, table, columns, schema, into, settings, *, freeze: bool):
    column_list = ", ".join(quote(c.name) for c in columns)
    # FREEZE: the table was created in this transaction, so rows can be written already frozen
    # (no later VACUUM rewrite of every page); append mode cannot use it.
    options = " WITH (FREEZE)" if freeze else ""
    copy_sql = f"COPY {qualified_name(schema, into)} ({column_list}) FROM STDIN{options}"
    streamer = SpoolStreamer(buffer_bytes=settings.buffer_mb * MB)
    return streamer.run(
        read=lambda sink: source.stream_rows(source_conn, table, columns, sink, nul_policy=settings.nul_policy),
        write=lambda chunks: target_conn.run(copy_sql, stream=chunks),
    )


def _verify(source, source_conn, target_conn, table, target_table, columns, settings, copied_rows=None):
    if settings.verify == "off":
        return TableVerification(table.qualified, "off", -1, -1)
    result = verify_table(
        mode=settings.verify,
        source=source,
        source_conn=source_conn,
        source_table=table,
        target=PostgresDialect(),
        target_conn=target_conn,
        target_table=target_table,
        columns=columns,
        nul_policy=settings.nul_policy,
        copied_rows=copied_rows,
    )
    if not result.ok:
        raise VerificationFailed(result.describe())
    return result


def _identity(columns: tuple[TargetColumn, ...]) -> str | None:
    return next((c.name for c in columns if c.identity), None)


def _identity_sequence(conn: Connection, schema: str, table: str, columns: tuple[TargetColumn, ...]) -> str | None:
    """The identity sequence's name as the server quotes it (safe to splice: it is the server's own)."""
    column = _identity(columns)
    if not column:
        return None
    return conn.run("SELECT pg_get_serial_sequence(:t, :c)", t=qualified_name(schema, table), c=column)[0][0]


def _stats(table: SourceTable, read, stream, started: float) -> TableStats:
    return TableStats(
        table=table.qualified,
        rows=read.rows,
        bytes=stream.bytes,
        seconds=round(time.monotonic() - started, 3),
        peak_memory_mb=round(peak_memory_mb(), 1),
        spilled_bytes=stream.spilled_bytes,
        nul_stripped=dict(read.nul_stripped),
    )


@contextmanager
def transaction(conn: Connection) -> Generator[None, None, None]:
    """One target transaction: COMMIT on success; on any failure a rollback (or a closed connection) and re-raise."""
    conn.run("BEGIN")
    try:
        yield
        conn.run("COMMIT")
    except BaseException:
        rollback_quietly(conn)
        raise


def rollback_quietly(conn: Connection) -> None:
    # After a failure mid-COPY the connection may be unusable; the server rolls back on close.
    try:
        conn.run("ROLLBACK")
    except Exception:  # noqa: BLE001
        try:
            conn.close()
        except Exception:  # noqa: BLE001
            pass
