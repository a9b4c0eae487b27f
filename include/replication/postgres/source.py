"""PostgreSQL via pg8000: the alternative source, and the verifier of the PostgreSQL target.

Rows leave a PostgreSQL source in one of two ways. ``copy`` (default) runs
``COPY (SELECT ...) TO STDOUT``: the server already writes COPY text format, so no value is
decoded or re-encoded in Python. ``rows`` reads through a server-side cursor and encodes each row
with the shared encoder: the same path a SQL Server source takes, so it can be exercised end to
end here, where no SQL Server runs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pg8000.native import Connection, identifier

from include.replication.copy.encoder import RowEncoder
from include.replication.interfaces import BucketSum, KeyRange, ReadResult, Sink
from include.replication.models import ForeignKey, Index, SourceColumn, SourceTable, TargetColumn
from include.replication.partitions import histogram_points
from include.replication.postgres.copy_out import copy_out

_SQL = {p.stem: p.read_text() for p in (Path(__file__).parent / "sql").glob("*.sql")}

FETCH_ROWS = 1_000  # rows per FETCH in ``rows`` mode: a few MB even for 30 KB posts held as Python str

# Session settings that make text output (COPY, ::text, to_char) independent of the server's
# and the role's defaults: a source with DateStyle 'SQL, DMY' must not hand the target 03/04/2010.
SESSION_SETTINGS = (
    "SET DateStyle = 'ISO, YMD'",
    "SET IntervalStyle = 'postgres'",
    "SET extra_float_digits = 3",
    "SET bytea_output = 'hex'",
    "SET TimeZone = 'UTC'",
    "SET client_encoding = 'UTF8'",
)

QUANTILE_POINTS = 200  # points of the exact distribution when the key has no statistics

_MODIFIERS = re.compile(r"\(\d+(,\d+)?\)")


def quote(name: str) -> str:
    """Quote one PostgreSQL identifier (the one quoting function: pg8000's)."""
    return identifier(name)


def qualified_name(schema: str, table: str) -> str:
    return f"{quote(schema)}.{quote(table)}"


def prepare_session(conn: Connection) -> None:
    """Pin the settings that text output depends on (see SESSION_SETTINGS)."""
    for statement in SESSION_SETTINGS:
        conn.run(statement)


def canonical_text(column: str, pg_type: str) -> str:
    """SQL for the canonical text of one value of ``pg_type`` (verification contract in dialects.py)."""
    col = quote(column)
    base = _MODIFIERS.sub("", pg_type).strip()
    if base == "boolean":
        return f"CASE WHEN {col} THEN 't' ELSE 'f' END"
    if base in ("real", "double precision"):
        return f"encode(float8send({col}::float8), 'hex')"
    if base == "timestamp without time zone" or base == "timestamp":
        return f"to_char({col}, 'YYYY-MM-DD HH24:MI:SS.US')"
    if base in ("timestamp with time zone", "timestamptz"):
        return f"to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'"
    if base in ("time without time zone", "time"):
        return f"to_char(DATE '2000-01-01' + {col}, 'HH24:MI:SS.US')"
    if base == "date":
        return f"to_char({col}, 'YYYY-MM-DD')"
    if base == "bytea":
        return f"encode({col}, 'hex')"
    return f"{col}::text"


def canonical_row(columns: Sequence[TargetColumn]) -> str:
    """SQL for a row's canonical text: per column ``N;`` or ``V<octets>:<text>;``."""
    parts = []
    for column in columns:
        text = canonical_text(column.name, column.pg_type)
        parts.append(
            f"CASE WHEN {quote(column.name)} IS NULL THEN 'N;' "
            f"ELSE 'V' || octet_length({text}) || ':' || {text} || ';' END"
        )
    return " || ".join(parts) if parts else "''"


def _bucket(key: str, width: int) -> str:
    # floor(key / width) in integer arithmetic, the same expression on every engine
    k = quote(key)
    # (-1 - k) rather than (-k - 1): -k overflows for the smallest integer of the type
    return f"CASE WHEN {k} >= 0 THEN {k} / {int(width)} ELSE -((-1 - {k}) / {int(width)}) - 1 END"


def bucket_checksums_sql(
    table: SourceTable,
    columns: Sequence[TargetColumn],
    *,
    key: str | None,
    width: int,
    key_range: KeyRange | None = None,
) -> tuple[str, dict[str, int]]:
    """The per-bucket row count and 56-bit hash sum query (contract in ``dialects.py``), and its parameters."""
    where, params = range_filter(key_range)
    bucket = _bucket(key, width) if key else "0"
    sql = (
        f"SELECT {bucket} AS bucket, count(*), "
        f"sum(('x' || substr(md5({canonical_row(columns)}), 1, 14))::bit(56)::bigint)::text "
        f"FROM {qualified_name(table.schema, table.name)}{where} GROUP BY 1"
    )
    return sql, params


def range_filter(key_range: KeyRange | None) -> tuple[str, dict[str, int]]:
    """`` WHERE key >= :low AND key < :high`` for the bounds given, and their parameters."""
    if key_range is None:
        return "", {}
    clauses, params = [], {}
    if key_range.low is not None:
        clauses.append(f"{quote(key_range.column)} >= :low")
        params["low"] = key_range.low
    if key_range.high is not None:
        clauses.append(f"{quote(key_range.column)} < :high")
        params["high"] = key_range.high
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _literal_range_filter(key_range: KeyRange | None) -> str:
    # COPY takes no bind parameters: the bounds are rendered from Python ints, nothing else.
    if key_range is None:
        return ""
    clauses = []
    if key_range.low is not None:
        clauses.append(f"{quote(key_range.column)} >= {int(key_range.low)}")
    if key_range.high is not None:
        clauses.append(f"{quote(key_range.column)} < {int(key_range.high)}")
    return " WHERE " + " AND ".join(clauses) if clauses else ""


class PostgresDialect:
    """PostgreSQL as a source (and the target's verifier), over a pg8000 native connection."""

    name = "postgres"
    default_schema = "public"

    def __init__(self, read_mode: str = "copy") -> None:
        if read_mode not in ("copy", "rows"):
            raise ValueError(f"read_mode must be 'copy' or 'rows', got {read_mode!r}")
        self.read_mode = read_mode

    def quote(self, name: str) -> str:
        return quote(name)

    def fetch_tables(self, conn: Connection, schema: str) -> list[SourceTable]:
        """Read every base table of ``schema``: columns, primary key, foreign keys, indexes."""
        columns: dict[str, list[SourceColumn]] = {}
        for table, name, data_type, nullable, length, precision, scale, identity in conn.run(
            _SQL["list_columns"], schema=schema
        ):
            columns.setdefault(table, []).append(
                SourceColumn(name, data_type, nullable, length, precision, scale, identity)
            )
        keys = {table: tuple(cols) for table, cols in conn.run(_SQL["list_primary_keys"], schema=schema)}
        foreign: dict[str, list[ForeignKey]] = {}
        for table, name, cols, ref_schema, ref_table, ref_cols in conn.run(_SQL["list_foreign_keys"], schema=schema):
            foreign.setdefault(table, []).append(ForeignKey(name, tuple(cols), ref_schema, ref_table, tuple(ref_cols)))
        indexes: dict[str, list[Index]] = {}
        for table, name, cols, unique, expression in conn.run(_SQL["list_indexes"], schema=schema):
            if not expression:  # expression/partial indexes are not re-created (reported by the DDL step)
                indexes.setdefault(table, []).append(Index(name, tuple(cols), unique))
        return [
            SourceTable(
                schema=schema,
                name=table,
                columns=tuple(columns.get(table, ())),
                primary_key=keys.get(table, ()),
                foreign_keys=tuple(foreign.get(table, ())),
                indexes=tuple(indexes.get(table, ())),
                approx_rows=approx,
            )
            for table, approx in conn.run(_SQL["list_tables"], schema=schema)
        ]

    def count_rows(self, conn: Connection, table: SourceTable, key_range: KeyRange | None = None) -> int:
        where, params = range_filter(key_range)
        return conn.run(f"SELECT count(*) FROM {qualified_name(table.schema, table.name)}{where}", **params)[0][0]

    def key_bounds(self, conn: Connection, table: SourceTable, key: str) -> tuple[int | None, int | None]:
        k = quote(key)
        low, high = conn.run(f"SELECT min({k}), max({k}) FROM {qualified_name(table.schema, table.name)}")[0]
        return low, high

    def key_distribution(self, conn: Connection, table: SourceTable, key: str) -> tuple[int, list[tuple[int, float]]]:
        """(row estimate, [(key, cumulative rows)]) from the statistics; exact quantiles when there are none."""
        found = conn.run(_SQL["key_histogram"], schema=table.schema, table=table.name, key=key)
        bounds, estimate = found[0] if found else (None, 0)
        if bounds and estimate > 0:
            return estimate, histogram_points([int(b) for b in bounds.strip("{}").split(",")], estimate)
        # Never analyzed (the source role may not be allowed to): one ordered pass over the key.
        k = quote(key)
        rows = conn.run(
            f"SELECT {k}, rn FROM (SELECT {k}, row_number() OVER (ORDER BY {k}) AS rn, count(*) OVER () AS total "
            f"FROM {qualified_name(table.schema, table.name)}) q "
            f"WHERE rn % greatest(total / {QUANTILE_POINTS}, 1) = 0 OR rn = 1 OR rn = total ORDER BY rn"
        )
        total = rows[-1][1] if rows else 0
        return total, [(int(key_value), float(rn)) for key_value, rn in rows]

    def stream_rows(
        self,
        conn: Connection,
        table: SourceTable,
        columns: Sequence[TargetColumn],
        sink: Sink,
        *,
        nul_policy: str,
        key_range: KeyRange | None = None,
    ) -> ReadResult:
        """Write the rows as COPY text lines to ``sink`` (PostgreSQL text never holds NUL)."""
        column_list = ", ".join(quote(c.name) for c in columns)
        source = qualified_name(table.schema, table.name)
        if self.read_mode == "copy":
            query = f"SELECT {column_list} FROM {source}{_literal_range_filter(key_range)}"
            return ReadResult(rows=copy_out(conn, f"COPY ({query}) TO STDOUT", sink), nul_stripped={})
        where, params = range_filter(key_range)
        encoder = RowEncoder(table.qualified, [c.name for c in columns], key=table.primary_key, nul_policy=nul_policy)
        conn.run("BEGIN READ ONLY")
        try:
            conn.run(
                f"DECLARE replication_rows NO SCROLL CURSOR FOR SELECT {column_list} FROM {source}{where}", **params
            )
            while rows := conn.run(f"FETCH FORWARD {FETCH_ROWS} FROM replication_rows"):
                sink(encoder.encode(rows))
        finally:
            conn.run("ROLLBACK")
        return ReadResult(rows=encoder.rows, nul_stripped=dict(encoder.nul_stripped))

    def bucket_checksums(
        self,
        conn: Connection,
        table: SourceTable,
        columns: Sequence[TargetColumn],
        *,
        key: str | None,
        width: int,
        nul_policy: str,
        key_range: KeyRange | None = None,
    ) -> dict[int, BucketSum]:
        """Per bucket floor(key / width) (one bucket 0 without a key): row count and sum of 56-bit row hashes."""
        sql, params = bucket_checksums_sql(table, columns, key=key, width=width, key_range=key_range)
        return {bucket: BucketSum(rows, int(total)) for bucket, rows, total in conn.run(sql, **params)}

    def row_hashes(
        self,
        conn: Connection,
        table: SourceTable,
        columns: Sequence[TargetColumn],
        *,
        key: str,
        low: int,
        high: int,
        nul_policy: str,
    ) -> dict[Any, str]:
        """``{key: md5 hex}`` for keys in ``[low, high)``: to name the rows that differ."""
        k = quote(key)
        sql = (
            f"SELECT {k}, md5({canonical_row(columns)}) FROM {qualified_name(table.schema, table.name)} "
            f"WHERE {k} >= :low AND {k} < :high"
        )
        return dict(conn.run(sql, low=low, high=high))
