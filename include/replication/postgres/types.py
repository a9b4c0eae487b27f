"""PostgreSQL source types: copied to PostgreSQL unchanged, if this project knows how to copy and verify them.

Anything else (user-defined types, arrays of composites, ...) fails before any data moves,
naming table, column and type.
"""

from __future__ import annotations

from include.replication.models import SourceColumn, SourceTable, TargetColumn
from include.replication.plan import UnsupportedTypeError
from include.replication.postgres.dialect import TYPE_MODIFIERS

SUPPORTED_TYPES = (
    "smallint", "integer", "bigint", "numeric", "real", "double precision", "boolean",
    "text", "character varying", "character", "bytea", "uuid", "xml", "json", "jsonb",
    "date", "time without time zone", "time with time zone",
    "timestamp without time zone", "timestamp with time zone", "interval",
)  # fmt: skip


def map_column(table: str, column: SourceColumn) -> TargetColumn:
    """The same type on the target; an unknown type fails naming table, column and type."""
    # format_type() text: drop the modifiers, "timestamp(3) without time zone" -> "timestamp without time zone"
    base = TYPE_MODIFIERS.sub("", column.data_type).removesuffix("[]").strip()
    if base not in SUPPORTED_TYPES:
        raise UnsupportedTypeError(f"{table}.{column.name}: PostgreSQL type {column.data_type!r} is not supported")
    return TargetColumn(column.name, column.data_type, column.nullable, column.identity)


def map_table(table: SourceTable) -> tuple[TargetColumn, ...]:
    """Every column of ``table``; all errors before any data moves."""
    return tuple(map_column(table.qualified, c) for c in table.columns)
