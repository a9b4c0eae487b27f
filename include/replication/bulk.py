"""Partitioned loads for the bulk DAG: a key range to a staged file, a staged file into the staging table.

The staging table carries its primary key from the start, so each partition load, one
transaction, can first clear its own key range cheaply: a retried partition (or one cleared by a
user after it had committed) never duplicates rows, and a failed one is retried alone. The table
is verified and swapped in (``load.verify_and_swap``) only after every partition has loaded.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Any

from pg8000.native import Connection

from include.replication.interfaces import ReadResult, SourceDialect
from include.replication.load import LoadSettings, add_primary_key, create_staging, transaction, verify_and_swap
from include.replication.models import SourceTable, TargetColumn
from include.replication.partitions import Partition
from include.replication.postgres.ddl import staging_name
from include.replication.postgres.source import prepare_session, qualified_name, quote, range_filter
from include.replication.verify import TableVerification


class PartitionLoadError(RuntimeError):
    """A staged file that does not hold what its extraction wrote (truncated or replaced)."""


def prepare_staging(conn: Connection, schema: str, table: SourceTable, columns: tuple[TargetColumn, ...]) -> str:
    """Create an empty ``<table>__staging`` with the primary key, committed: partitions load into it."""
    prepare_session(conn)
    with transaction(conn):
        staging = create_staging(conn, schema, table, columns)
        add_primary_key(conn, schema, staging, table)
    return staging


def extract_partition(
    dialect: SourceDialect,
    conn: Any,
    table: SourceTable,
    columns: tuple[TargetColumn, ...],
    partition: Partition,
    out: IO[bytes],
    *,
    nul_policy: str,
) -> ReadResult:
    """Write one partition's rows to ``out`` as COPY text."""
    return dialect.stream_rows(conn, table, columns, out.write, nul_policy=nul_policy, key_range=partition.key_range())


def load_partition(
    conn: Connection,
    *,
    schema: str,
    table: SourceTable,
    columns: tuple[TargetColumn, ...],
    partition: Partition,
    chunks: Iterable[bytes],
    expected_rows: int,
) -> int:
    """Replace the partition's key range in the staging table with the staged rows, in one transaction."""
    staging = qualified_name(schema, staging_name(table.name))
    column_list = ", ".join(quote(c.name) for c in columns)
    prepare_session(conn)
    with transaction(conn):
        key_range = partition.key_range()
        if key_range is None:  # the whole table is this one partition
            conn.run(f"TRUNCATE {staging}")
        else:
            where, params = range_filter(key_range)
            conn.run(f"DELETE FROM {staging}{where}", **params)
        conn.run(f"COPY {staging} ({column_list}) FROM STDIN", stream=chunks)
        loaded = conn.row_count
        if loaded != expected_rows:
            raise PartitionLoadError(
                f"{partition.name}: the staged file held {loaded:,} rows, its extraction wrote {expected_rows:,}"
            )
    return loaded


def finish_table(
    source: SourceDialect,
    source_conn: Any,
    target_conn: Connection,
    table: SourceTable,
    columns: tuple[TargetColumn, ...],
    settings: LoadSettings,
) -> TableVerification:
    """Verify the fully loaded staging table against the source and swap it in, in one transaction."""
    prepare_session(target_conn)
    with transaction(target_conn):
        return verify_and_swap(
            source, source_conn, target_conn, table, columns, settings, staging=staging_name(table.name)
        )
