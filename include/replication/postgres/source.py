"""PostgreSQL via pg8000 as a source: the alternative to SQL Server, and the one runnable end to end here.

Rows leave a PostgreSQL source in one of two ways. ``copy`` (default) runs
``COPY (SELECT ...) TO STDOUT``: the server already writes COPY text format, so no value is
decoded or re-encoded in Python. ``rows`` reads through a server-side cursor and encodes each row
with the shared encoder: the same path a SQL Server source takes, so it can be exercised end to
end here, where no SQL Server runs.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from contextlib import contextmanager

from pg8000.native import Connection

from include.replication.copy.encoder import RowEncoder
from include.replication.interfaces import ReadResult, Sink, Snapshot
from include.replication.models import KeyRange, KeySet, SourceTable, TargetColumn
from include.replication.partitions import KeyDistribution
from include.replication.postgres import catalog, types
from include.replication.postgres.checksums import PostgresChecksums
from include.replication.postgres.copy_out import copy_out
from include.replication.postgres.dialect import POSTGRES, prepare_session, qualified, quote
from include.replication.settings import NulPolicy, ReadMode

FETCH_ROWS = 1_000  # rows per FETCH in ``rows`` mode: a few MB even for 30 KB posts held as Python str


class PostgresSource(PostgresChecksums):
    """A PostgreSQL source over one pg8000 native connection; the session's text settings pinned on creation."""

    engine = "postgres"
    default_schema = "public"

    def __init__(self, conn: Connection, read_mode: ReadMode = ReadMode.COPY) -> None:
        self.conn = conn
        self.read_mode = read_mode
        self.in_snapshot = False
        prepare_session(conn)

    @contextmanager
    def snapshot(self) -> Generator[Snapshot, None, None]:
        """A ``REPEATABLE READ READ ONLY`` transaction: every statement in the block sees the same snapshot.

        Its first statement fixes the snapshot, so the description names the one the reads see.
        """
        self.conn.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            (current,) = self.conn.run("SELECT pg_current_snapshot()::text")[0]
            self.in_snapshot = True
            yield Snapshot(True, f"PostgreSQL snapshot {current} (REPEATABLE READ)")
        except BaseException:
            # Nothing more on this connection: a reader thread may still be mid-COPY on it. The
            # caller closes it, and the server ends the transaction with the session.
            self.in_snapshot = False
            raise
        self.in_snapshot = False
        self.conn.run("ROLLBACK")  # read only: nothing to keep

    def fetch_tables(self, schema: str) -> list[SourceTable]:
        """Read every base table of ``schema``: columns, primary key, foreign keys, indexes."""
        return catalog.fetch_tables(self.conn, schema)

    def map_columns(self, table: SourceTable) -> tuple[TargetColumn, ...]:
        """PostgreSQL to PostgreSQL keeps every type; an unknown one fails naming table, column and type."""
        return types.map_table(table)

    def key_distribution(self, table: SourceTable, key: str) -> KeyDistribution:
        """The key's distribution for the partition planner, from statistics."""
        return catalog.key_distribution(self.conn, table, key)

    def stream_rows(
        self,
        table: SourceTable,
        columns: Sequence[TargetColumn],
        sink: Sink,
        *,
        nul_policy: NulPolicy,
        key_range: KeyRange | KeySet | None = None,
    ) -> ReadResult:
        """Write the rows as COPY text lines to ``sink`` (PostgreSQL text never holds NUL)."""
        column_list = ", ".join(quote(c.name) for c in columns)
        if self.read_mode == ReadMode.COPY:
            where, _ = POSTGRES.range_filter(key_range, literal=True)  # COPY takes no bind parameters
            query = f"SELECT {column_list} FROM {qualified(table)}{where}"
            return ReadResult(rows=copy_out(self.conn, f"COPY ({query}) TO STDOUT", sink), nul_stripped={})
        where, params = POSTGRES.range_filter(key_range)
        encoder = RowEncoder(table.qualified, [c.name for c in columns], key=table.primary_key, nul_policy=nul_policy)
        own_transaction = not self.in_snapshot  # a cursor needs a transaction: the snapshot's, or its own
        if own_transaction:
            self.conn.run("BEGIN READ ONLY")
        try:
            self.conn.run(
                f"DECLARE replication_rows NO SCROLL CURSOR FOR SELECT {column_list} FROM {qualified(table)}{where}",
                **params,
            )
            while rows := self.conn.run(f"FETCH FORWARD {FETCH_ROWS} FROM replication_rows"):
                sink(encoder.encode(rows))
            if not own_transaction:
                self.conn.run("CLOSE replication_rows")
        finally:
            if own_transaction:
                self.conn.run("ROLLBACK")
        return ReadResult(rows=encoder.rows, nul_stripped=dict(encoder.nul_stripped))

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()
