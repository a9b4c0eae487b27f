"""Source column types to PostgreSQL 16 target types: one declarative row per SQL Server type.

PostgreSQL sources keep their types unchanged. An unknown type fails before any data moves,
naming table, column and type (``UnsupportedTypeError``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from include.replication.models import SourceColumn, SourceTable, TargetColumn

MAX_LENGTH = -1  # varchar(max) and friends, as INFORMATION_SCHEMA reports them
PG_MAX_FRACTIONAL_DIGITS = 6  # PostgreSQL time/timestamp stop at microseconds; SQL Server goes to 100 ns


class UnsupportedTypeError(ValueError):
    """A source column whose type this project cannot replicate (or that the user opted out of converting)."""


@dataclass(frozen=True)
class TypeRule:
    """How one SQL Server type lands in PostgreSQL.

    ``target`` builds the PostgreSQL type from the column. ``source_expression``, when set, is a
    T-SQL expression template (``{col}`` is the quoted column) that converts the value on the
    source side, for types no Python driver returns usefully; such columns need
    ``convert_special_types`` (the default) or fail with a clear error.
    """

    target: Callable[[SourceColumn], str]
    source_expression: str | None = None


def _fixed(pg_type: str) -> Callable[[SourceColumn], str]:
    return lambda column: pg_type


def _fraction(column: SourceColumn) -> int:
    return min(column.scale if column.scale is not None else 7, PG_MAX_FRACTIONAL_DIGITS)


def _string(base: str) -> Callable[[SourceColumn], str]:
    def target(column: SourceColumn) -> str:
        if column.char_length is None or column.char_length == MAX_LENGTH:
            return "text"
        return f"{base}({column.char_length})"

    return target


def _numeric(column: SourceColumn) -> str:
    return f"numeric({column.precision},{column.scale or 0})"


def _float(column: SourceColumn) -> str:
    # float(n): n is the mantissa bits; SQL Server stores n <= 24 as 4-byte real
    return "real" if column.precision is not None and column.precision <= 24 else "double precision"


SQLSERVER_TYPES: dict[str, TypeRule] = {
    "bit": TypeRule(_fixed("boolean")),
    "tinyint": TypeRule(_fixed("smallint")),  # 0..255; PostgreSQL has no one-byte integer
    "smallint": TypeRule(_fixed("smallint")),
    "int": TypeRule(_fixed("integer")),
    "bigint": TypeRule(_fixed("bigint")),
    "decimal": TypeRule(_numeric),
    "numeric": TypeRule(_numeric),
    "money": TypeRule(_fixed("numeric(19,4)")),  # PostgreSQL money is locale-dependent: exact numeric instead
    "smallmoney": TypeRule(_fixed("numeric(10,4)")),
    "float": TypeRule(_float),
    "real": TypeRule(_fixed("real")),
    "date": TypeRule(_fixed("date")),
    "time": TypeRule(lambda c: f"time({_fraction(c)})"),
    "datetime": TypeRule(_fixed("timestamp(3)")),  # 1/300 s ticks fit in milliseconds
    "smalldatetime": TypeRule(_fixed("timestamp(0)")),
    "datetime2": TypeRule(lambda c: f"timestamp({_fraction(c)})"),
    "datetimeoffset": TypeRule(_fixed("timestamptz")),  # the instant is kept; the original offset is not
    "char": TypeRule(_string("char")),
    "nchar": TypeRule(_string("char")),
    "varchar": TypeRule(_string("varchar")),
    "nvarchar": TypeRule(_string("varchar")),
    "sysname": TypeRule(_fixed("varchar(128)")),  # alias of nvarchar(128), used in catalog-like tables
    "text": TypeRule(_fixed("text")),
    "ntext": TypeRule(_fixed("text")),
    "binary": TypeRule(_fixed("bytea")),
    "varbinary": TypeRule(_fixed("bytea")),
    "image": TypeRule(_fixed("bytea")),
    "rowversion": TypeRule(_fixed("bytea")),
    "timestamp": TypeRule(_fixed("bytea")),  # SQL Server's "timestamp" is rowversion, not a date
    "uniqueidentifier": TypeRule(_fixed("uuid")),  # the driver returns a UUID in display byte order
    "xml": TypeRule(_fixed("xml"), "CONVERT(nvarchar(max), {col})"),
    "sql_variant": TypeRule(_fixed("text"), "CONVERT(nvarchar(4000), {col})"),
    "hierarchyid": TypeRule(_fixed("text"), "{col}.ToString()"),  # canonical path such as /1/3/
    "geography": TypeRule(_fixed("text"), "{col}.STAsText()"),  # WKT; the SRID is not carried
    "geometry": TypeRule(_fixed("text"), "{col}.STAsText()"),
}


def map_sqlserver_column(table: str, column: SourceColumn, *, convert_special_types: bool = True) -> TargetColumn:
    """Return the PostgreSQL column for one SQL Server column, or raise ``UnsupportedTypeError``."""
    rule = SQLSERVER_TYPES.get(column.data_type.lower())
    if rule is None:
        raise UnsupportedTypeError(
            f"{table}.{column.name}: SQL Server type {column.data_type!r} has no PostgreSQL mapping"
        )
    if rule.source_expression and column.data_type.lower() != "xml" and not convert_special_types:
        raise UnsupportedTypeError(
            f"{table}.{column.name}: SQL Server type {column.data_type!r} needs a source-side conversion "
            f"({rule.source_expression.format(col=column.name)}) and convert_special_types is off"
        )
    return TargetColumn(column.name, rule.target(column), column.nullable, column.identity)


def sqlserver_source_expression(column: SourceColumn, quoted: str) -> str | None:
    """The T-SQL expression that reads ``column`` (already quoted) when the type needs conversion."""
    rule = SQLSERVER_TYPES.get(column.data_type.lower())
    return rule.source_expression.format(col=quoted) if rule and rule.source_expression else None


# Types a PostgreSQL source may have that this project knows how to verify and copy. Anything
# else (user-defined types, arrays of composites, ...) fails early rather than mid-copy.
_POSTGRES_BASE_TYPES = (
    "smallint", "integer", "bigint", "numeric", "real", "double precision", "boolean",
    "text", "character varying", "character", "bytea", "uuid", "xml", "json", "jsonb",
    "date", "time without time zone", "time with time zone",
    "timestamp without time zone", "timestamp with time zone", "interval",
)  # fmt: skip


_TYPE_MODIFIERS = re.compile(r"\(\d+(,\d+)?\)")


def map_postgres_column(table: str, column: SourceColumn) -> TargetColumn:
    """PostgreSQL to PostgreSQL keeps the type; unknown types fail naming table, column and type."""
    # format_type() text: drop the modifiers, "timestamp(3) without time zone" -> "timestamp without time zone"
    base = _TYPE_MODIFIERS.sub("", column.data_type).removesuffix("[]").strip()
    if base not in _POSTGRES_BASE_TYPES:
        raise UnsupportedTypeError(f"{table}.{column.name}: PostgreSQL type {column.data_type!r} is not supported")
    return TargetColumn(column.name, column.data_type, column.nullable, column.identity)


def map_table(table: SourceTable, *, dialect: str, convert_special_types: bool = True) -> tuple[TargetColumn, ...]:
    """Map every column of ``table`` for ``dialect`` ('mssql' or 'postgres'); all errors before any data moves."""
    if dialect == "mssql":
        return tuple(
            map_sqlserver_column(table.qualified, c, convert_special_types=convert_special_types) for c in table.columns
        )
    if dialect == "postgres":
        return tuple(map_postgres_column(table.qualified, c) for c in table.columns)
    raise ValueError(f"unknown source dialect {dialect!r}")
