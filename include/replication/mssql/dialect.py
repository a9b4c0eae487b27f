"""T-SQL identifier quoting, and the expressions that read SQL Server values in a shape pymssql keeps exact.

pymssql (2.4.6, over FreeTDS) returns most types faithfully; the ones below are read as
something else on the server side, the same way in every TDS version:

- ``datetime2``, ``time``: read as ISO text truncated (not rounded) to 6 fraction digits.
  pymssql fails on ``9999-12-31 23:59:59.9999999`` ("hour must be in 0..23", pymssql issues
  #662, #695, #792), and under TDS < 7.3 these types arrive as strings anyway (pymssql 2.1.4
  changelog). PostgreSQL keeps microseconds, and truncation keeps ``...59.999999`` in range
  where rounding would step into year 10000.
- ``datetimeoffset``: read as the UTC instant, ``YYYY-MM-DD HH:MM:SS.ffffff+00`` (truncated like
  datetime2), which PostgreSQL parses into ``timestamptz``. pymssql returned the raw TDS bytes
  under TDS 7.3 until 2024 (issue #649) and a string under TDS < 7.3; decoding bytes would tie us
  to one layout. Styles 126/127 drop an all-zero fraction and keep 7 digits, which PostgreSQL
  would round; the fixed-width text here is also the checksum's canonical text, unchanged.
- ``money``/``smallmoney``: read as ``decimal(19,4)``/``decimal(10,4)``. pymssql renders money
  through FreeTDS ``dbconvert`` to text, which prints two fraction digits when the context's
  ``money_use_2_digits`` is set (FreeTDS issue #237, ``src/tds/convert.c``).

Read natively, and exact: ``datetime`` (FreeTDS ``tds_datecrack`` rounds the 1/300 s tick to the
millisecond SQL Server displays: ``((ticks % 300) * 1000 + 150) / 300``), ``uniqueidentifier``
(``uuid.UUID(bytes_le=...)`` in ``_mssql.pyx``: display order), decimal (``Decimal`` of
FreeTDS's text, all ``s`` digits), bit (``bool``), tinyint (unsigned), binary types (``bytes``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from include.replication.interfaces import KeyRange
from include.replication.models import SourceColumn, SourceTable, TargetColumn
from include.replication.mssql.types import sqlserver_source_expression

# pymssql substitutes parameters client side and rewrites every "%(name)s" / "%(name)d" it finds,
# even inside a bracketed identifier (_mssql.pyx, _substitute_params); such a name cannot be read.
_PYMSSQL_PLACEHOLDER = re.compile(r"%\([^)]+\)[sd]")


def quote(name: str) -> str:
    """Quote one T-SQL identifier: ``[name]`` with ``]`` doubled."""
    if _PYMSSQL_PLACEHOLDER.search(name):
        raise ValueError(f"identifier {name!r} contains a pymssql parameter placeholder and cannot be queried")
    return "[" + name.replace("]", "]]") + "]"


def qualified_name(schema: str, table: str) -> str:
    return f"{quote(schema)}.{quote(table)}"


def timestamp_text(value: str) -> str:
    """``YYYY-MM-DD HH:MM:SS.ffffff`` of a datetime2 expression: style 121 of datetime2(7), 7th digit cut."""
    # widening to datetime2(7) is exact and makes style 121 print exactly 27 characters
    return f"LEFT(CONVERT(varchar(27), CONVERT(datetime2(7), {value}), 121), 26)"


def time_text(value: str) -> str:
    """``HH:MM:SS.ffffff`` of a time expression (style 121 of time(7), 7th digit cut)."""
    return f"LEFT(CONVERT(varchar(16), CONVERT(time(7), {value}), 121), 15)"


def utc_text(value: str) -> str:
    """The UTC instant of a datetimeoffset expression as ``YYYY-MM-DD HH:MM:SS.ffffff+00``."""
    # converting datetimeoffset to datetime2 keeps the local clock and drops the offset: go to UTC first
    return timestamp_text(f"SWITCHOFFSET({value}, '+00:00')") + " + '+00'"


_READ_AS = {
    "datetime2": timestamp_text,
    "time": time_text,
    "datetimeoffset": utc_text,
    "money": lambda value: f"CONVERT(decimal(19,4), {value})",
    "smallmoney": lambda value: f"CONVERT(decimal(10,4), {value})",
}


def read_expression(column: SourceColumn, quoted: str) -> str:
    """The T-SQL that reads ``column`` (``quoted`` is its quoted, possibly qualified, name)."""
    special = sqlserver_source_expression(column, quoted)  # xml, sql_variant, hierarchyid, spatial
    if special is not None:
        return special
    convert = _READ_AS.get(column.data_type.lower())
    return convert(quoted) if convert else quoted


def source_columns(table: SourceTable, columns: Sequence[TargetColumn]) -> list[SourceColumn]:
    """The source columns behind ``columns`` (target columns, same names), in their order."""
    by_name = {c.name: c for c in table.columns}
    missing = [c.name for c in columns if c.name not in by_name]
    if missing:
        raise ValueError(f"{table.qualified}: no source column named {', '.join(missing)}")
    return [by_name[c.name] for c in columns]


def select_list(columns: Sequence[SourceColumn]) -> str:
    """The SELECT list reading ``columns`` in order, converted columns keeping their names."""
    items = []
    for column in columns:
        quoted = quote(column.name)
        expression = read_expression(column, quoted)
        items.append(quoted if expression == quoted else f"{expression} AS {quoted}")
    return ", ".join(items)


def range_filter(key_range: KeyRange | None, *, alias: str = "") -> tuple[str, dict[str, int]]:
    """`` WHERE key >= %(low)s AND key < %(high)s`` for the given bounds, and their parameters."""
    if key_range is None:
        return "", {}
    key = alias + quote(key_range.column)
    clauses, params = [], {}
    if key_range.low is not None:
        clauses.append(f"{key} >= %(low)s")
        params["low"] = int(key_range.low)
    if key_range.high is not None:
        clauses.append(f"{key} < %(high)s")
        params["high"] = int(key_range.high)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params
