"""SQL Server via pymssql: the main source.

Rows leave SQL Server through one SELECT per table or key range, with an explicit column list
in which the types pymssql mishandles are converted on the server (``mssql_expressions``), and
are encoded to COPY text with the shared ``RowEncoder``: the same path the PostgreSQL source
takes in its ``rows`` mode. Catalog reading is in ``mssql_catalog``, checksum SQL in
``mssql_checksums``. Parameters are pymssql's ``%(name)s``, always passed as a dict: pymssql
substitutes them client side, and with a dict it touches nothing but ``%(name)s`` patterns.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pymssql

from include.replication.copy.encoder import BadValueError, RowEncoder
from include.replication.interfaces import BucketSum, KeyRange, ReadResult, Sink
from include.replication.models import SourceTable, TargetColumn
from include.replication.mssql import catalog as mssql_catalog
from include.replication.mssql.checksums import bucket_checksums_sql, row_hashes_sql
from include.replication.mssql.dialect import qualified_name, quote, range_filter, select_list, source_columns
from include.replication.partitions import cumulative_points
from include.replication.postgres.source import QUANTILE_POINTS

log = logging.getLogger(__name__)

APP_NAME = "stackoverflow-replication"  # shows in sys.dm_exec_sessions.program_name for the DBA
LOGIN_TIMEOUT_S = 30  # a wrong host fails the task in seconds, not after pymssql's default 60
FULL_TEXTSIZE = "SET TEXTSIZE 2147483647"
FETCH_ROWS = 1_000  # rows per fetchmany: a few MB even for 30 KB posts held as Python str (see source_postgres)


# Keyword arguments of pymssql.connect that a connection's extras may set; Airflow extras often
# carry others (sqlalchemy_scheme, driver) that pymssql would reject.
PYMSSQL_OPTIONS = ("login_timeout", "timeout", "tds_version", "appname", "charset", "autocommit", "encryption",
                   "read_only", "conn_properties", "use_datetime2", "arraysize")  # fmt: skip


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


def connect_mssql(
    *, host: str, port: int, user: str, password: str, database: str, **options: Any
) -> pymssql.Connection:
    """Open a pymssql connection in autocommit (a reader holds no transaction); known ``options`` go to pymssql."""
    ignored = sorted(k for k in options if k not in PYMSSQL_OPTIONS)
    if ignored:
        log.warning("ignoring connection options pymssql does not take: %s", ", ".join(ignored))  # names only
    settings: dict[str, Any] = {"login_timeout": LOGIN_TIMEOUT_S, "appname": APP_NAME, "charset": "UTF-8",
                                "autocommit": True}  # fmt: skip
    # tds_version only when given: FreeTDS then negotiates the highest version the server speaks
    settings.update((k, v) for k, v in options.items() if k in PYMSSQL_OPTIONS)
    if "conn_properties" in settings:
        # pymssql sends its own SET TEXTSIZE only without conn_properties: (max) values would arrive cut short
        properties = settings["conn_properties"]
        settings["conn_properties"] = [*([properties] if isinstance(properties, str) else properties), FULL_TEXTSIZE]
    log.info(
        "connecting to SQL Server %s:%s database %s as %s (tds_version %s, login timeout %ss)",
        host, port, database, user, settings.get("tds_version", "negotiated"), settings["login_timeout"],
    )  # fmt: skip
    try:
        return pymssql.connect(server=host, port=str(port), user=user, password=password, database=database, **settings)
    except pymssql.Error as exc:
        raise ConnectionError(f"cannot connect to SQL Server {host}:{port} database {database!r} as {user!r}") from exc


def _execute(cursor: Any, sql: str, params: dict[str, int]) -> None:
    if params:
        cursor.execute(sql, params)
    else:
        cursor.execute(sql)  # without parameters pymssql sends the text untouched, no placeholder scan


def select_sql(
    table: SourceTable, columns: Sequence[TargetColumn], key_range: KeyRange | None = None
) -> tuple[str, dict[str, int]]:
    """The SELECT that reads ``columns`` of ``table`` (or a key range), in key order when there is a key."""
    where, params = range_filter(key_range)
    order = [key_range.column] if key_range else list(table.primary_key)
    order_by = " ORDER BY " + ", ".join(quote(c) for c in order) if order else ""
    sql = f"SELECT {select_list(source_columns(table, columns))} FROM {qualified_name(table.schema, table.name)}"
    return sql + where + order_by, params


def _run(conn: Any, sql: str, params: dict[str, int]) -> list[tuple[Any, ...]]:
    cursor = conn.cursor()
    try:
        _execute(cursor, sql, params)
        return cursor.fetchall()
    finally:
        cursor.close()


class SqlServerDialect:
    """SQL Server as a source, over a pymssql DB-API connection."""

    name = "mssql"
    default_schema = "dbo"

    def quote(self, name: str) -> str:
        return quote(name)

    def fetch_tables(self, conn: Any, schema: str) -> list[SourceTable]:
        """Read every base table of ``schema``: columns, primary key, foreign keys, indexes."""
        return mssql_catalog.fetch_tables(conn, schema)

    def count_rows(self, conn: Any, table: SourceTable, key_range: KeyRange | None = None) -> int:
        where, params = range_filter(key_range)
        return int(
            _run(conn, f"SELECT COUNT_BIG(*) FROM {qualified_name(table.schema, table.name)}{where}", params)[0][0]
        )

    def key_bounds(self, conn: Any, table: SourceTable, key: str) -> tuple[int | None, int | None]:
        k = quote(key)
        low, high = _run(conn, f"SELECT MIN({k}), MAX({k}) FROM {qualified_name(table.schema, table.name)}", {})[0]
        return low, high

    def key_distribution(self, conn: Any, table: SourceTable, key: str) -> tuple[int, list[tuple[int, float]]]:
        """(row count, [(key, cumulative rows)]) from the key's statistics histogram; exact quantiles without one."""
        total = table.approx_rows  # sys.partitions.rows: kept current by the engine, unlike the histogram
        params = {"qualified": qualified_name(table.schema, table.name), "key": key}
        steps = _run(conn, mssql_catalog.CATALOG_SQL["key_histogram"], params)
        points = cumulative_points([(int(k), float(r), float(e)) for k, r, e in steps])
        if points and points[-1][1] > 0 and total > 0:
            scale = total / points[-1][1]  # statistics lag behind inserts: stretch them to today's count
            return total, [(k, c * scale) for k, c in points]
        k = quote(key)
        rows = _run(
            conn,
            f"SELECT q.k, q.rn FROM (SELECT {k} AS k, ROW_NUMBER() OVER (ORDER BY {k}) AS rn, COUNT_BIG(*) OVER () AS total "
            f"FROM {qualified_name(table.schema, table.name)}) AS q "
            f"WHERE q.rn % CASE WHEN q.total / {QUANTILE_POINTS} > 0 THEN q.total / {QUANTILE_POINTS} ELSE 1 END = 0 "
            "OR q.rn = 1 OR q.rn = q.total ORDER BY q.rn",
            {},
        )
        return (int(rows[-1][1]) if rows else 0), [(int(k_), float(rn)) for k_, rn in rows]

    def stream_rows(
        self,
        conn: Any,
        table: SourceTable,
        columns: Sequence[TargetColumn],
        sink: Sink,
        *,
        nul_policy: str,
        key_range: KeyRange | None = None,
    ) -> ReadResult:
        """Write the rows as COPY text lines to ``sink``, one call per fetched batch."""
        encoder = RowEncoder(table.qualified, [c.name for c in columns], key=table.primary_key, nul_policy=nul_policy)
        sql, params = select_sql(table, columns, key_range)
        cursor = conn.cursor()
        after = "the start of the table"
        try:
            _execute(cursor, sql, params)
            # pymssql reads the result from the connection as fetchmany asks: memory stays one batch
            while rows := _fetch(cursor, table, after):
                sink(encoder.encode(rows))
                after = encoder.row_key(rows[-1])
        finally:
            cursor.close()
        return ReadResult(rows=encoder.rows, nul_stripped=dict(encoder.nul_stripped))

    def bucket_checksums(
        self,
        conn: Any,
        table: SourceTable,
        columns: Sequence[TargetColumn],
        *,
        key: str | None,
        width: int,
        nul_policy: str,
        key_range: KeyRange | None = None,
    ) -> dict[int, BucketSum]:
        """Per bucket floor(key / width) (one bucket 0 without a key): row count and sum of 56-bit row hashes."""
        sql, params = bucket_checksums_sql(
            table, columns, key=key, width=width, nul_policy=nul_policy, key_range=key_range
        )
        return {int(bucket): BucketSum(int(rows), int(total)) for bucket, rows, total in _run(conn, sql, params)}

    def row_hashes(
        self,
        conn: Any,
        table: SourceTable,
        columns: Sequence[TargetColumn],
        *,
        key: str,
        low: int,
        high: int,
        nul_policy: str,
    ) -> dict[Any, str]:
        """``{key: md5 hex}`` for keys in ``[low, high)``: to name the rows that differ."""
        sql, params = row_hashes_sql(table, columns, key=key, low=low, high=high, nul_policy=nul_policy)
        return dict(_run(conn, sql, params))
