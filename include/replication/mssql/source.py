"""SQL Server via pymssql: the main source.

Rows leave SQL Server through one SELECT per table or key range, with an explicit column list
in which each value is read as its type's row in ``types.py`` says, and are encoded to COPY text
with the shared ``RowEncoder``: the same path the PostgreSQL source takes in its ``rows`` mode.
Catalog reading is in ``catalog.py``, checksum SQL in ``checksums.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from include.replication.copy.encoder import BadValueError, RowEncoder
from include.replication.interfaces import ReadResult, Sink
from include.replication.models import KeyRange, SourceColumn, SourceTable, TargetColumn
from include.replication.mssql import catalog, checksums, types
from include.replication.mssql.capabilities import Capabilities, probe
from include.replication.mssql.dialect import TSQL, execute, fetch_all, qualified, quote
from include.replication.partitions import KeyDistribution
from include.replication.settings import NulPolicy
from include.replication.verify import BucketSum

log = logging.getLogger(__name__)

# rows per fetchmany: a few MB even for 30 KB posts held as Python str (as a PostgreSQL source's FETCH)
FETCH_ROWS = 1_000


def _fetch(cursor: Any, table: SourceTable, after: str) -> list[tuple]:
    """The next batch; text pymssql cannot decode (an unpaired UTF-16 surrogate) fails naming where it is."""
    try:
        return cursor.fetchmany(FETCH_ROWS)
    except UnicodeDecodeError as exc:
        raise BadValueError(
            f"{table.qualified}: text that is not valid UTF-16 (an unpaired surrogate?) within the {FETCH_ROWS:,} "
            f"rows after {after}; pymssql cannot decode it ({exc.reason}). PostgreSQL cannot store it either: fix "
            "or exclude the value at the source"
        ) from exc


def select_list(columns: Sequence[SourceColumn]) -> str:
    """The SELECT list reading ``columns`` in order, converted columns keeping their names."""
    items = []
    for column in columns:
        quoted = quote(column.name)
        expression = types.read_expression(column, quoted)
        items.append(quoted if expression == quoted else f"{expression} AS {quoted}")
    return ", ".join(items)


def select_sql(
    table: SourceTable, columns: Sequence[TargetColumn], key_range: KeyRange | None = None
) -> tuple[str, dict[str, int]]:
    """The SELECT that reads ``columns`` of ``table`` (or a key range), in key order when there is a key."""
    where, params = TSQL.range_filter(key_range)
    order = [key_range.column] if key_range else list(table.primary_key)
    order_by = " ORDER BY " + ", ".join(quote(c) for c in order) if order else ""
    sql = f"SELECT {select_list(table.columns_for(columns))} FROM {qualified(table)}"
    return sql + where + order_by, params


class SqlServerSource:
    """A SQL Server source over one pymssql DB-API connection (autocommit: a reader holds no transaction)."""

    engine = "mssql"
    default_schema = "dbo"

    def __init__(self, conn: Any, capabilities: Capabilities | None = None) -> None:
        self.conn = conn
        self._capabilities = capabilities

    @property
    def capabilities(self) -> Capabilities:
        """What this server can do (probed on first use, once per connection)."""
        if self._capabilities is None:
            self._capabilities = probe(self.conn)
            if self._capabilities.describe():
                log.info("SQL Server source: %s; adapting (see mssql/capabilities.py)", self._capabilities.describe())
        return self._capabilities

    def fetch_tables(self, schema: str) -> list[SourceTable]:
        """Read every base table of ``schema``: columns, primary key, foreign keys, indexes."""
        return catalog.fetch_tables(self.conn, schema)

    def map_columns(self, table: SourceTable) -> tuple[TargetColumn, ...]:
        """The PostgreSQL column of every SQL Server column (``types.py``)."""
        return types.map_table(table)

    def key_distribution(self, table: SourceTable, key: str) -> KeyDistribution:
        """The key's distribution from its statistics histogram, where the server has one."""
        return catalog.key_distribution(self.conn, table, key, histogram=self.capabilities.stats_histogram)

    def count_rows(self, table: SourceTable, key_range: KeyRange | None = None) -> int:
        """``COUNT_BIG(*)`` of the table, or of a key range."""
        where, params = TSQL.range_filter(key_range)
        return int(fetch_all(self.conn, f"SELECT COUNT_BIG(*) FROM {qualified(table)}{where}", params)[0][0])

    def key_bounds(self, table: SourceTable, key: str) -> tuple[int | None, int | None]:
        """``(MIN(key), MAX(key))``, both None for an empty table."""
        k = quote(key)
        low, high = fetch_all(self.conn, f"SELECT MIN({k}), MAX({k}) FROM {qualified(table)}")[0]
        return low, high

    def stream_rows(
        self,
        table: SourceTable,
        columns: Sequence[TargetColumn],
        sink: Sink,
        *,
        nul_policy: NulPolicy,
        key_range: KeyRange | None = None,
    ) -> ReadResult:
        """Write the rows as COPY text lines to ``sink``, one call per fetched batch."""
        encoder = RowEncoder(table.qualified, [c.name for c in columns], key=table.primary_key, nul_policy=nul_policy)
        sql, params = select_sql(table, columns, key_range)
        cursor = self.conn.cursor()
        after = "the start of the table"
        try:
            execute(cursor, sql, params)
            # pymssql reads the result from the connection as fetchmany asks: memory stays one batch
            while rows := _fetch(cursor, table, after):
                sink(encoder.encode(rows))
                after = encoder.row_key(rows[-1])
        finally:
            cursor.close()
        return ReadResult(rows=encoder.rows, nul_stripped=dict(encoder.nul_stripped))

    def bucket_checksums(
        self,
        table: SourceTable,
        columns: Sequence[TargetColumn],
        *,
        key: str | None,
        width: int,
        nul_policy: NulPolicy,
        key_range: KeyRange | None = None,
    ) -> dict[int, BucketSum]:
        """Per bucket floor(key / width) (one bucket 0 without a key): row count and sum of 56-bit row hashes."""
        if self.capabilities.hashes_on_server:
            sql, params = checksums.bucket_checksums_sql(
                table, columns, key=key, width=width, nul_policy=nul_policy, key_range=key_range
            )
            rows = fetch_all(self.conn, sql, params)
            return {int(bucket): BucketSum(int(count), int(total)) for bucket, count, total in rows}
        finish = checksums.finishers(table, columns, nul_policy)
        sql, params = checksums.canonical_values_sql(table, columns, key=key, key_range=key_range)
        return checksums.bucket_sums(self._rows(table, sql, params), finish, width=width, keyed=key is not None)

    def row_hashes(
        self,
        table: SourceTable,
        columns: Sequence[TargetColumn],
        *,
        key: str,
        low: int,
        high: int,
        nul_policy: NulPolicy,
    ) -> dict[Any, str]:
        """``{key: md5 hex}`` for keys in ``[low, high)``: to name the rows that differ."""
        if self.capabilities.hashes_on_server:
            sql, params = checksums.row_hashes_sql(table, columns, key=key, low=low, high=high, nul_policy=nul_policy)
            return {k: bytes(digest).hex() for k, digest in fetch_all(self.conn, sql, params)}
        finish = checksums.finishers(table, columns, nul_policy)
        sql, params = checksums.canonical_values_sql(table, columns, key=key, key_range=KeyRange(key, low, high))
        return {k: checksums.row_digest(values, finish).hex() for k, *values in self._rows(table, sql, params)}

    def _rows(self, table: SourceTable, sql: str, params: dict[str, int]) -> Iterator[tuple[Any, ...]]:
        """The rows of one SELECT, fetched in batches (memory stays one batch)."""
        cursor = self.conn.cursor()
        try:
            execute(cursor, sql, params)
            while rows := _fetch(cursor, table, "the start of the range"):
                yield from rows
        finally:
            cursor.close()

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()
