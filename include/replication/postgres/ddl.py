"""PostgreSQL target DDL as text: tables, staging names, keys, indexes, the swap, identity alignment.

Every identifier goes through ``dialect.quote``. PostgreSQL truncates identifiers at 63 bytes,
so derived names (staging tables, constraint names) are shortened with a hash suffix instead of
silently colliding.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from include.replication.foreign_keys import Reference
from include.replication.models import Index, TableName, TargetColumn
from include.replication.postgres.dialect import POSTGRES, qualified, quote

PG_MAX_IDENTIFIER_BYTES = 63
STAGING_SUFFIX = "__staging"
# The bulk DAG's staging table lives across tasks (prepared, loaded partition by partition, swapped
# in); a streaming run on the same target drops and re-creates <table>__staging, so the bulk DAG's
# must be another name.
BULK_STAGING_SUFFIX = "__bulk__staging"
KEY_SUFFIX = "_pkey"


def derived_name(base: str, suffix: str) -> str:
    """``base + suffix``, shortened with a hash when it would exceed PostgreSQL's 63-byte limit."""
    name = base + suffix
    if len(name.encode()) <= PG_MAX_IDENTIFIER_BYTES:
        return name
    digest = hashlib.sha1(base.encode()).hexdigest()[:8]
    room = PG_MAX_IDENTIFIER_BYTES - len(suffix.encode()) - len(digest) - 1
    trimmed = base.encode()[:room].decode(errors="ignore")
    return f"{trimmed}_{digest}{suffix}"


def staging_table(table: TableName, *, bulk: bool = False) -> TableName:
    """``<table>__staging`` (``<table>__bulk__staging`` for the bulk DAG) in the same schema."""
    return TableName(table.schema, derived_name(table.name, BULK_STAGING_SUFFIX if bulk else STAGING_SUFFIX))


def create_table_sql(table: TableName, columns: Sequence[TargetColumn]) -> str:
    """``CREATE TABLE`` with identity columns as ``GENERATED ALWAYS AS IDENTITY`` (COPY still writes ids)."""
    lines = []
    for column in columns:
        line = f"{quote(column.name)} {column.data_type}"
        if column.identity:
            line += " GENERATED ALWAYS AS IDENTITY"
        if not column.nullable:
            line += " NOT NULL"
        lines.append(line)
    return f"CREATE TABLE {qualified(table)} ({', '.join(lines)})"


def primary_key_sql(table: TableName, key: Sequence[str], *, name: str) -> str:
    """``ALTER TABLE ... ADD CONSTRAINT name PRIMARY KEY (...)``."""
    columns = ", ".join(quote(c) for c in key)
    return f"ALTER TABLE {qualified(table)} ADD CONSTRAINT {quote(name)} PRIMARY KEY ({columns})"


def index_sql(table: TableName, index: Index, *, name: str) -> str:
    """``CREATE [UNIQUE] INDEX name ON table (...)``."""
    unique = "UNIQUE " if index.unique else ""
    columns = ", ".join(quote(c) for c in index.columns)
    return f"CREATE {unique}INDEX {quote(name)} ON {qualified(table)} ({columns})"


def staging_index_name(index: Index) -> str:
    """A staging table's copy of ``index``: renamed to the index's own name by the swap."""
    return derived_name(index.name, STAGING_SUFFIX)


def swap_sql(staging: TableName, table: TableName, *, indexes: Sequence[Index], has_key: bool) -> list[str]:
    """Statements that replace ``table`` by ``staging`` (run inside the load's transaction).

    The identity sequence keeps the staging table's name; the target renames it with the name
    the server reports (PostgreSQL's own truncation rules decide it).
    """
    statements = [
        f"DROP TABLE IF EXISTS {qualified(table)}",
        f"ALTER TABLE {qualified(staging)} RENAME TO {quote(table.name)}",
    ]
    if has_key:
        staging_key = TableName(table.schema, derived_name(staging.name, KEY_SUFFIX))
        statements.append(
            f"ALTER INDEX {qualified(staging_key)} RENAME TO {quote(derived_name(table.name, KEY_SUFFIX))}"
        )
    for index in indexes:
        staged = TableName(table.schema, staging_index_name(index))
        statements.append(f"ALTER INDEX {qualified(staged)} RENAME TO {quote(index.name)}")
    return statements


def align_identity_sql(table: TableName, column: str) -> tuple[str, dict[str, str]]:
    """SQL and parameters moving the identity past max(column); next value 1 when no value is positive."""
    col = quote(column)
    sql = (
        "SELECT setval(pg_get_serial_sequence(:qualified, :column), "
        f"greatest(coalesce(max({col}), 1), 1), coalesce(max({col}), 0) >= 1) "
        f"FROM {qualified(table)}"
    )
    return sql, {"qualified": qualified(table), "column": column}


# pg_constraint.confdeltype / confupdtype
ACTION_CODES = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


def add_foreign_key_sql(reference: Reference) -> str:
    """``ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID``: existing rows are not checked (yet)."""
    columns = ", ".join(quote(c) for c in reference.columns)
    referenced = ", ".join(quote(c) for c in reference.referenced_columns)
    return (
        f"ALTER TABLE {qualified(reference.table)} ADD CONSTRAINT {quote(reference.name)} FOREIGN KEY ({columns}) "
        f"REFERENCES {qualified(reference.referenced)} ({referenced}) "
        f"ON DELETE {reference.on_delete} ON UPDATE {reference.on_update} NOT VALID"
    )


def dangling_sql(reference: Reference, key: Sequence[str]) -> tuple[str, str]:
    """Count, and sample (``:limit`` rows by ``key``), the rows whose non-NULL columns reference no row (MATCH SIMPLE)."""
    source, shown, order = POSTGRES.dangling_rows(reference, key)
    return f"SELECT count(*) {source}", f"SELECT {shown} {source} ORDER BY {order} LIMIT :limit"
