"""T-SQL for the verification contract (``dialects.py``) computed on a SQL Server source.

Each value's canonical text is built from the SOURCE type so that it equals what PostgreSQL
prints for the mapped target type (``source_postgres.canonical_text``): datetime is
``timestamp(3)``, so style 121 plus ``000``; datetime2/time/datetimeoffset reuse the read path's
truncated text; char/nchar land in ``char(n)``, whose ``::text`` drops trailing spaces, so RTRIM.

Text is hashed as UTF-8, as PostgreSQL's ``md5(text)`` does in a UTF-8 database: an nvarchar
cast to varchar under a ``_UTF8`` collation holds the UTF-8 bytes (SQL Server 2019 or later,
needed only for checksums), so HASHBYTES and DATALENGTH see the same octets.

Floating-point columns (real, float) are hashed by their bits: the value widened to float,
``CONVERT(binary(8), ...)`` (big-endian IEEE 754, as PostgreSQL's ``float8send``), in hex.
Decimal text cannot be matched: T-SQL's CONVERT styles give 16 or 17 digits and PostgreSQL's
15-digit rounding differs from re-rounding them for a fraction of a percent of values.
"""

from __future__ import annotations

from collections.abc import Sequence

from include.replication.interfaces import KeyRange
from include.replication.models import SourceColumn, SourceTable, TargetColumn
from include.replication.mssql.dialect import qualified_name, quote, range_filter, read_expression, source_columns

UTF8_COLLATION = "Latin1_General_100_BIN2_UTF8"  # binary: REPLACE finds NCHAR(0), which Windows collations ignore

_INTEGERS = ("tinyint", "smallint", "int", "bigint")
_EXACT_NUMBERS = ("decimal", "numeric", "money", "smallmoney")  # money is read as decimal(19,4): same text
_BINARY = ("binary", "varbinary", "image", "rowversion", "timestamp")
_TEXT = ("char", "nchar", "varchar", "nvarchar", "text", "ntext", "sysname", "xml", "sql_variant", "hierarchyid",
         "geography", "geometry")  # fmt: skip
_BLANK_PADDED = ("char", "nchar")
_READ_AS_TEXT = ("datetime2", "time", "datetimeoffset")

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
    kind = column.data_type.lower()
    value = read_expression(column, quoted)
    if kind == "bit":
        return f"CASE WHEN {quoted} = 1 THEN 't' ELSE 'f' END"
    if kind in _INTEGERS:
        return f"CONVERT(varchar(20), {quoted})"
    if kind in _EXACT_NUMBERS:
        return f"CONVERT(varchar(41), {value})"  # plain digits, exactly `scale` of them after the point
    if kind in ("float", "real"):
        return f"LOWER(CONVERT(varchar(16), CONVERT(binary(8), CONVERT(float, {quoted})), 2))"
    if kind == "date":
        return f"CONVERT(varchar(10), {quoted}, 23)"
    if kind == "datetime":
        return f"CONVERT(varchar(23), {quoted}, 121) + '000'"  # never via datetime2: that turns .997 into .9966667
    if kind == "smalldatetime":
        return f"CONVERT(varchar(19), {quoted}, 120) + '.000000'"
    if kind in _READ_AS_TEXT:
        return value
    if kind == "uniqueidentifier":
        return f"LOWER(CONVERT(varchar(36), {quoted}))"
    if kind in _BINARY:
        return f"LOWER(CONVERT(varchar(max), CONVERT(varbinary(max), {quoted}), 2))"
    if kind in _TEXT:
        return _utf8(value, strip_nul=strip_nul, rtrim=kind in _BLANK_PADDED)
    raise ValueError(f"{column.name}: SQL Server type {kind!r} has no canonical text")


def hashed_source(table: SourceTable, columns: Sequence[TargetColumn], *, nul_policy: str) -> str:
    """FROM clause: ``table`` as ``t``, each row's canonical text as ``r.row_text``."""
    source = f"{qualified_name(table.schema, table.name)} AS t"
    hashed = source_columns(table, columns)
    if not hashed:
        return f"{source} CROSS APPLY (SELECT CONVERT(varchar(max), '') AS row_text) AS r"
    texts, parts = [], []
    for i, column in enumerate(hashed):
        quoted = "t." + quote(column.name)
        texts.append(f"{canonical_text(column, quoted, strip_nul=nul_policy == 'strip')} AS [v{i}]")
        # NULL is tested on the column itself, not on its text: never depends on CONCAT_NULL_YIELDS_NULL
        parts.append(
            f"CASE WHEN {quoted} IS NULL THEN 'N;' "
            f"ELSE 'V' + CONVERT(varchar(20), DATALENGTH(v.[v{i}])) + ':' + v.[v{i}] + ';' END"
        )
    return (
        f"{source} CROSS APPLY (SELECT {', '.join(texts)}) AS v "
        f"CROSS APPLY (SELECT CONVERT(varchar(max), '') + {' + '.join(parts)} AS row_text) AS r"
    )


def _bucket(key: str) -> str:
    # floor(key / width) in integer arithmetic as dialects.py spells it; (-1 - k) is -k - 1 without overflow
    k, w = f"CONVERT(bigint, {key})", "CONVERT(bigint, %(width)s)"
    return f"CASE WHEN {k} >= 0 THEN {k} / {w} ELSE -((-1 - {k}) / {w}) - 1 END"


def bucket_checksums_sql(
    table: SourceTable,
    columns: Sequence[TargetColumn],
    *,
    key: str | None,
    width: int,
    nul_policy: str,
    key_range: KeyRange | None = None,
) -> tuple[str, dict[str, int]]:
    """SQL and parameters: per bucket, row count and the decimal(38,0) sum of 56-bit row hashes."""
    where, params = range_filter(key_range, alias="t.")
    bucket = "0"
    if key is not None:
        bucket = _bucket("t." + quote(key))
        params["width"] = int(width)
    sql = (
        "SELECT q.bucket, COUNT_BIG(*), SUM(CONVERT(decimal(38,0), q.row_hash)) FROM ("
        f"SELECT {bucket} AS bucket, {ROW_HASH_56} AS row_hash "
        f"FROM {hashed_source(table, columns, nul_policy=nul_policy)}{where}"
        ") AS q GROUP BY q.bucket"
    )
    return sql, params


def row_hashes_sql(
    table: SourceTable, columns: Sequence[TargetColumn], *, key: str, low: int, high: int, nul_policy: str
) -> tuple[str, dict[str, int]]:
    """SQL and parameters: each key in ``[low, high)`` with its row's MD5 as lowercase hex."""
    where, params = range_filter(KeyRange(key, low, high), alias="t.")
    sql = (
        f"SELECT t.{quote(key)}, LOWER(CONVERT(varchar(32), HASHBYTES('MD5', r.row_text), 2)) "
        f"FROM {hashed_source(table, columns, nul_policy=nul_policy)}{where}"
    )
    return sql, params
