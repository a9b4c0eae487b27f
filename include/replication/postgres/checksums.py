"""The verification contract (``verify.py``) in PostgreSQL SQL, for a PostgreSQL source and the target alike.

The canonical text of a row, its bucketed checksums and row hashes. ``PostgresChecksums`` runs
those queries over a pg8000 connection; ``PostgresSource`` and ``PostgresTarget`` both inherit it,
so both sides of a PostgreSQL-to-PostgreSQL copy hash with the same SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pg8000.native import Connection

from include.replication.models import KeyRange, KeySet, TableName, TargetColumn
from include.replication.postgres.dialect import POSTGRES, TYPE_MODIFIERS, qualified, quote
from include.replication.settings import NulPolicy
from include.replication.verify import BucketSum


def canonical_text(column: str, data_type: str) -> str:
    """SQL for the canonical text of one value of ``data_type`` (the contract in ``verify.py``)."""
    col = quote(column)
    base = TYPE_MODIFIERS.sub("", data_type).strip()
    if base == "boolean":
        return f"CASE WHEN {col} THEN 't' ELSE 'f' END"
    if base in ("real", "double precision"):
        return f"encode(float8send({col}::float8), 'hex')"
    if base in ("timestamp without time zone", "timestamp"):
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
        text = canonical_text(column.name, column.data_type)
        parts.append(
            f"CASE WHEN {quote(column.name)} IS NULL THEN 'N;' "
            f"ELSE 'V' || octet_length({text}) || ':' || {text} || ';' END"
        )
    return " || ".join(parts) if parts else "''"


def bucket_checksums_sql(
    table: TableName,
    columns: Sequence[TargetColumn],
    *,
    key: str | None,
    width: int,
    key_range: KeyRange | KeySet | None = None,
) -> tuple[str, dict[str, int]]:
    """The per-bucket row count and 56-bit hash sum query, and its parameters."""
    where, params = POSTGRES.range_filter(key_range)
    bucket = POSTGRES.bucket(quote(key), width) if key else "0"
    sql = (
        f"SELECT {bucket} AS bucket, count(*), "
        f"sum(('x' || substr(md5({canonical_row(columns)}), 1, 14))::bit(56)::bigint)::text "
        f"FROM {qualified(table)}{where} GROUP BY 1"
    )
    return sql, params


class PostgresChecksums:
    """The verification queries over ``self.conn`` (a pg8000 native connection); PostgreSQL text never holds NUL."""

    conn: Connection

    def count_rows(self, table: TableName, key_range: KeyRange | None = None) -> int:
        """``count(*)`` of the table, or of a key range."""
        where, params = POSTGRES.range_filter(key_range)
        return self.conn.run(f"SELECT count(*) FROM {qualified(table)}{where}", **params)[0][0]

    def key_bounds(self, table: TableName, key: str) -> tuple[int | None, int | None]:
        """``(min(key), max(key))``, both None for an empty table."""
        k = quote(key)
        low, high = self.conn.run(f"SELECT min({k}), max({k}) FROM {qualified(table)}")[0]
        return low, high

    def bucket_checksums(
        self,
        table: TableName,
        columns: Sequence[TargetColumn],
        *,
        key: str | None,
        width: int,
        nul_policy: NulPolicy,
        key_range: KeyRange | KeySet | None = None,
    ) -> dict[int, BucketSum]:
        """Per bucket floor(key / width) (one bucket 0 without a key): row count and sum of 56-bit row hashes."""
        sql, params = bucket_checksums_sql(table, columns, key=key, width=width, key_range=key_range)
        return {bucket: BucketSum(rows, int(total)) for bucket, rows, total in self.conn.run(sql, **params)}

    def row_hashes(
        self,
        table: TableName,
        columns: Sequence[TargetColumn],
        *,
        key_range: KeyRange | KeySet,
        nul_policy: NulPolicy,
    ) -> dict[Any, str]:
        """``{key: md5 hex}`` for the keys in ``key_range``: to name the rows that differ."""
        where, params = POSTGRES.range_filter(key_range)
        sql = f"SELECT {quote(key_range.column)}, md5({canonical_row(columns)}) FROM {qualified(table)}{where}"
        return dict(self.conn.run(sql, **params))
