"""PostgreSQL target DDL: tables, staging tables, keys, indexes and the atomic swap.

Every identifier goes through ``source_postgres.quote``. PostgreSQL truncates identifiers at 63
bytes, so derived names (staging tables, constraint names) are shortened with a hash suffix
instead of silently colliding.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from include.replication.models import Index, TargetColumn
from include.replication.postgres.source import qualified_name, quote

PG_MAX_IDENTIFIER_BYTES = 63
STAGING_SUFFIX = "__staging"


def derived_name(base: str, suffix: str) -> str:
    """``base + suffix``, shortened with a hash when it would exceed PostgreSQL's 63-byte limit."""
    name = base + suffix
    if len(name.encode()) <= PG_MAX_IDENTIFIER_BYTES:
        return name
    digest = hashlib.sha1(base.encode()).hexdigest()[:8]
    room = PG_MAX_IDENTIFIER_BYTES - len(suffix.encode()) - len(digest) - 1
    trimmed = base.encode()[:room].decode(errors="ignore")
    return f"{trimmed}_{digest}{suffix}"


def staging_name(table: str) -> str:
    return derived_name(table, STAGING_SUFFIX)


def create_table_sql(schema: str, table: str, columns: Sequence[TargetColumn], *, if_not_exists: bool = False) -> str:
    """``CREATE TABLE`` with identity columns as ``GENERATED ALWAYS AS IDENTITY`` (COPY still writes ids)."""
    lines = []
    for column in columns:
        line = f"{quote(column.name)} {column.pg_type}"
        if column.identity:
            line += " GENERATED ALWAYS AS IDENTITY"
        if not column.nullable:
            line += " NOT NULL"
        lines.append(line)
    exists = "IF NOT EXISTS " if if_not_exists else ""
    return f"CREATE TABLE {exists}{qualified_name(schema, table)} ({', '.join(lines)})"


def primary_key_sql(schema: str, table: str, key: Sequence[str], *, name: str) -> str:
    columns = ", ".join(quote(c) for c in key)
    return f"ALTER TABLE {qualified_name(schema, table)} ADD CONSTRAINT {quote(name)} PRIMARY KEY ({columns})"


def index_sql(schema: str, table: str, index: Index, *, name: str) -> str:
    unique = "UNIQUE " if index.unique else ""
    columns = ", ".join(quote(c) for c in index.columns)
    return f"CREATE {unique}INDEX {quote(name)} ON {qualified_name(schema, table)} ({columns})"


def swap_sql(schema: str, table: str, *, staging: str, key_name: str | None) -> list[str]:
    """Statements that replace ``table`` by ``staging`` (run inside the load's transaction).

    The identity sequence keeps the staging table's name; ``load.py`` renames it with the name
    the server reports (PostgreSQL's own truncation rules decide it).
    """
    statements = [
        f"DROP TABLE IF EXISTS {qualified_name(schema, table)}",
        f"ALTER TABLE {qualified_name(schema, staging)} RENAME TO {quote(table)}",
    ]
    if key_name:
        staging_key = derived_name(staging, "_pkey")
        statements.append(f"ALTER INDEX {qualified_name(schema, staging_key)} RENAME TO {quote(key_name)}")
    return statements


def align_identity_sql(schema: str, table: str, column: str) -> tuple[str, dict[str, str]]:
    """SQL and parameters moving the identity past max(column); next value 1 when no value is positive."""
    col = quote(column)
    sql = (
        "SELECT setval(pg_get_serial_sequence(:qualified, :column), "
        f"greatest(coalesce(max({col}), 1), 1), coalesce(max({col}), 0) >= 1) "
        f"FROM {qualified_name(schema, table)}"
    )
    return sql, {"qualified": qualified_name(schema, table), "column": column}
