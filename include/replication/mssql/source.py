"""SQL Server over a DB-API connection (mssql-python or pymssql: ADR 0010): the main source.

Rows leave SQL Server through one SELECT per table or key range, with an explicit column list
in which each value is read as its type's row in ``types.py`` says, and are encoded to COPY text
with the shared ``RowEncoder``: the same path the PostgreSQL source takes in its ``rows`` mode.
Over mssql-python a table without text is encoded column by column instead (``columnar.py``).
Catalog reading is in ``catalog.py``, checksum SQL in ``checksums.py``.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from contextlib import contextmanager
from typing import Any

from include.replication.copy.encoder import RowEncoder
from include.replication.interfaces import ReadResult, Sink, Snapshot
from include.replication.models import KeyRange, KeySet, SourceColumn, SourceTable, TargetColumn
from include.replication.mssql import catalog, columnar, types
from include.replication.mssql.capabilities import Capabilities
from include.replication.mssql.checksums import SqlServerChecksums
from include.replication.mssql.dialect import TSQL, execute, fetch_all, fetch_batch, qualified, quote, run
from include.replication.partitions import KeyDistribution
from include.replication.settings import NulPolicy


def select_list(columns: Sequence[SourceColumn], *, exact: bool = False) -> str:
    """The SELECT list reading ``columns`` in order, converted columns keeping their names.

    ``exact``: read every digit the type holds (for a SQL Server target), not PostgreSQL's share.
    """
    read = types.exact_read_expression if exact else types.read_expression
    items = []
    for column in columns:
        quoted = quote(column.name)
        expression = read(column, quoted)
        items.append(quoted if expression == quoted else f"{expression} AS {quoted}")
    return ", ".join(items)


def select_sql(
    table: SourceTable,
    columns: Sequence[TargetColumn],
    key_range: KeyRange | KeySet | None = None,
    *,
    exact: bool = False,
) -> tuple[str, dict[str, int]]:
    """The SELECT that reads ``columns`` of ``table`` (or a key range), in key order when there is a key."""
    where, params = TSQL.range_filter(key_range)
    order = [key_range.column] if key_range else list(table.primary_key)
    order_by = " ORDER BY " + ", ".join(quote(c) for c in order) if order else ""
    sql = f"SELECT {select_list(table.columns_for(columns), exact=exact)} FROM {qualified(table)}"
    return sql + where + order_by, params


class SqlServerSource(SqlServerChecksums):
    """A SQL Server source over one DB-API connection in autocommit (a reader holds no transaction).

    mssql-python (``connect_mssql_python``) or pymssql (``connect_mssql``): the queries are the same
    and both drivers give the same COPY text (tests/mssql/test_read_drivers.py); mssql-python reads
    2-4x faster (ADR 0010). One connection for everything, as the copy and its checksums share a snapshot.
    """

    engine = "mssql"
    default_schema = "dbo"

    def __init__(self, conn: Any, capabilities: Capabilities | None = None, *, target_engine: str = "postgres") -> None:
        self.conn = conn
        self._capabilities = capabilities
        self.target_engine = target_engine  # "postgres": types mapped; "mssql": types kept, every digit read

    def fetch_tables(self, schema: str) -> list[SourceTable]:
        """Read every base table of ``schema``: columns, primary key, foreign keys, indexes."""
        return catalog.fetch_tables(self.conn, schema)

    def map_columns(self, table: SourceTable) -> tuple[TargetColumn, ...]:
        """The target column of every SQL Server column (``types.py``): PostgreSQL's type, or its own."""
        return types.keep_table(table) if self.target_engine == "mssql" else types.map_table(table)

    def key_distribution(self, table: SourceTable, key: str) -> KeyDistribution:
        """The key's distribution from its statistics histogram, where the server has one."""
        return catalog.key_distribution(self.conn, table, key, histogram=self.capabilities.stats_histogram)

    @contextmanager
    def snapshot(self) -> Generator[Snapshot, None, None]:
        """A transaction in ``SNAPSHOT`` isolation where the database allows it (``ALLOW_SNAPSHOT_ISOLATION``).

        Without it, the block reads as before (each statement its own moment) and the snapshot
        says why: the caller then re-copies whatever changed under the copy.
        """
        database, allowed = fetch_all(
            self.conn, "SELECT DB_NAME(), snapshot_isolation_state FROM sys.databases WHERE database_id = DB_ID()"
        )[0]
        if allowed != 1:
            yield Snapshot(False, f"no snapshot: database {database!r} does not allow snapshot isolation "
                                  f"(ALTER DATABASE {quote(database)} SET ALLOW_SNAPSHOT_ISOLATION ON allows it)")  # fmt: skip
            return
        run(self.conn, "SET TRANSACTION ISOLATION LEVEL SNAPSHOT; BEGIN TRANSACTION")
        (started,) = fetch_all(self.conn, "SELECT CONVERT(varchar(27), SYSUTCDATETIME(), 121)")[0]
        # On a failure nothing more is sent (a reader may still be mid-result on this connection):
        # the caller closes it, and the server rolls the read-only transaction back.
        yield Snapshot(True, f"SQL Server SNAPSHOT isolation, transaction begun {started} UTC")
        run(self.conn, "IF @@TRANCOUNT > 0 COMMIT TRANSACTION; SET TRANSACTION ISOLATION LEVEL READ COMMITTED")

    def stream_rows(
        self,
        table: SourceTable,
        columns: Sequence[TargetColumn],
        sink: Sink,
        *,
        nul_policy: NulPolicy,
        key_range: KeyRange | KeySet | None = None,
    ) -> ReadResult:
        """Write the rows as COPY text lines to ``sink``, one call per fetched batch.

        Over mssql-python, a table without text is encoded column by column from Arrow batches
        (``columnar.py``: the same bytes, Votes 0.48 s against 1.72 s row by row, ADR 0010); any
        other row by row.
        """
        encoder = RowEncoder(table.qualified, [c.name for c in columns], key=table.primary_key, nul_policy=nul_policy)
        sql, params = select_sql(table, columns, key_range, exact=self.target_engine == "mssql")
        cursor = self.conn.cursor()
        after = "the start of the table"
        try:
            execute(cursor, sql, params)
            if hasattr(cursor, "arrow_batch") and columnar.fits(table.columns_for(columns)):
                return ReadResult(rows=columnar.stream_batches(cursor, sink), nul_stripped={})
            # the driver reads the result from the connection as fetchmany asks: memory stays one batch
            while rows := fetch_batch(cursor, table, after):
                sink(encoder.encode(rows))
                after = encoder.row_key(rows[-1])
        finally:
            cursor.close()
        return ReadResult(rows=encoder.rows, nul_stripped=dict(encoder.nul_stripped))

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()
