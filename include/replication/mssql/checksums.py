"""The verification contract (``verify.py``) in T-SQL, computed on a SQL Server source.

Each value's canonical text comes from its type's row in ``types.py`` and equals what
PostgreSQL prints for the mapped target type. Text is hashed as UTF-8, as PostgreSQL's
``md5(text)`` does in a UTF-8 database: an nvarchar cast to varchar under a ``_UTF8`` collation
holds the UTF-8 bytes (SQL Server 2019 or later, needed only for checksums), so HASHBYTES and
DATALENGTH see the same octets.

Floating-point columns (real, float) are hashed by their bits: the value widened to float,
``CONVERT(binary(8), ...)`` (big-endian IEEE 754, as PostgreSQL's ``float8send``), in hex.
Decimal text cannot be matched: T-SQL's CONVERT styles give 16 or 17 digits and PostgreSQL's
15-digit rounding differs from re-rounding them for a fraction of a percent of values.
"""

from __future__ import annotations

from collections.abc import Sequence

from include.replication.models import KeyRange, SourceColumn, SourceTable, TargetColumn
from include.replication.mssql.dialect import TSQL, qualified, quote
from include.replication.mssql.types import type_of
from include.replication.settings import NulPolicy

UTF8_COLLATION = "Latin1_General_100_BIN2_UTF8"  # binary: REPLACE finds NCHAR(0), which Windows collations ignore

# The first 7 bytes of the MD5 as a big-endian, non-negative 56-bit integer.
ROW_HASH_56 = "CONVERT(bigint, 0x00 + SUBSTRING(HASHBYTES('MD5', r.row_text), 1, 7))"


def _utf8(value: str, *, strip_nul: bool, rtrim: bool) -> str:
    text = f"CONVERT(nvarchar(max), {value}) COLLATE {UTF8_COLLATION}"
    if strip_nul:  # the load stripped U+0000 from this value: hash what was promised
        text = f"REPLACE({text}, NCHAR(0), N'')"
    if rtrim:  # after the NUL strip, as PostgreSQL pads the stripped value and ::text trims it
        text = f"RTRIM({text})"
    return f"CAST({text} AS varchar(max))"


def canonical_text(column: SourceColumn, quoted: str, *, strip_nul: bool) -> str:
    """T-SQL for the canonical text of one non-NULL value of ``column`` (``quoted``: its qualified name)."""
    rule = type_of(column)
    value = rule.read.format(col=quoted)
    return rule.canonical.format(
        col=quoted,
        value=value,
        text=_utf8(value, strip_nul=strip_nul, rtrim=False),
        padded_text=_utf8(value, strip_nul=strip_nul, rtrim=True),
    )


def hashed_source(table: SourceTable, columns: Sequence[TargetColumn], *, nul_policy: NulPolicy) -> str:
    """FROM clause: ``table`` as ``t``, each row's canonical text as ``r.row_text``."""
    source = f"{qualified(table)} AS t"
    hashed = table.columns_for(columns)
    if not hashed:
        return f"{source} CROSS APPLY (SELECT CONVERT(varchar(max), '') AS row_text) AS r"
    texts, parts = [], []
    for i, column in enumerate(hashed):
        quoted = "t." + quote(column.name)
        texts.append(f"{canonical_text(column, quoted, strip_nul=nul_policy == NulPolicy.STRIP)} AS [v{i}]")
        # NULL is tested on the column itself, not on its text: never depends on CONCAT_NULL_YIELDS_NULL
        parts.append(
            f"CASE WHEN {quoted} IS NULL THEN 'N;' "
            f"ELSE 'V' + CONVERT(varchar(20), DATALENGTH(v.[v{i}])) + ':' + v.[v{i}] + ';' END"
        )
    return (
        f"{source} CROSS APPLY (SELECT {', '.join(texts)}) AS v "
        f"CROSS APPLY (SELECT CONVERT(varchar(max), '') + {' + '.join(parts)} AS row_text) AS r"
    )


def bucket_checksums_sql(
    table: SourceTable,
    columns: Sequence[TargetColumn],
    *,
    key: str | None,
    width: int,
    nul_policy: NulPolicy,
    key_range: KeyRange | None = None,
) -> tuple[str, dict[str, int]]:
    """SQL and parameters: per bucket, row count and the decimal(38,0) sum of 56-bit row hashes."""
    where, params = TSQL.range_filter(key_range, alias="t.")
    bucket = TSQL.bucket("t." + quote(key), width) if key is not None else "0"
    sql = (
        "SELECT q.bucket, COUNT_BIG(*), SUM(CONVERT(decimal(38,0), q.row_hash)) FROM ("
        f"SELECT {bucket} AS bucket, {ROW_HASH_56} AS row_hash "
        f"FROM {hashed_source(table, columns, nul_policy=nul_policy)}{where}"
        ") AS q GROUP BY q.bucket"
    )
    return sql, params


def row_hashes_sql(
    table: SourceTable, columns: Sequence[TargetColumn], *, key: str, low: int, high: int, nul_policy: NulPolicy
) -> tuple[str, dict[str, int]]:
    """SQL and parameters: each key in ``[low, high)`` with its row's MD5 as lowercase hex."""
    where, params = TSQL.range_filter(KeyRange(key, low, high), alias="t.")
    sql = (
        f"SELECT t.{quote(key)}, LOWER(CONVERT(varchar(32), HASHBYTES('MD5', r.row_text), 2)) "
        f"FROM {hashed_source(table, columns, nul_policy=nul_policy)}{where}"
    )
    return sql, params
