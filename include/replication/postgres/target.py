"""PostgreSQL via pg8000 as the target: the steps of a staged load, in PostgreSQL's SQL.

``load.py`` decides their order and the transaction around them; each method here is one step.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pg8000.exceptions import DatabaseError
from pg8000.native import Connection

from include.replication.foreign_keys import ForeignKeyRefused, Reference, Status
from include.replication.interfaces import Shape
from include.replication.models import Index, KeyRange, KeySet, TableName, TargetColumn, identity_column
from include.replication.plan import PlanError
from include.replication.postgres import attachments, claims, ddl
from include.replication.postgres.checksums import PostgresChecksums
from include.replication.postgres.dialect import POSTGRES, prepare_session, qualified, quote

TARGET_FOREIGN_KEYS_SQL = (Path(__file__).parent / "sql" / "target" / "foreign_keys.sql").read_text()
FOREIGN_KEY_VIOLATION = "23503"  # SQLSTATE


class PostgresTarget(PostgresChecksums):
    """A PostgreSQL target over one pg8000 native connection; the session's text settings pinned on creation."""

    engine = "postgres"

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        prepare_session(conn)

    @contextmanager
    def transaction(self) -> Generator[None, None, None]:
        """One transaction: COMMIT on success; on any failure a rollback (or a closed connection) and re-raise."""
        self.conn.run("BEGIN")
        try:
            yield
            self.conn.run("COMMIT")
        except BaseException:
            self._rollback_quietly()
            raise

    def _rollback_quietly(self) -> None:
        # After a failure mid-COPY the connection may be unusable; the server rolls back on close.
        try:
            self.conn.run("ROLLBACK")
        except Exception:
            try:
                self.conn.close()
            except Exception:
                pass

    def ensure_schema(self, schema: str) -> None:
        """Create ``schema`` if it is missing (needs CREATE on the database; says so if not allowed)."""
        if self.conn.run("SELECT 1 FROM pg_namespace WHERE nspname = :s", s=schema):
            return
        try:
            self.conn.run(f"CREATE SCHEMA {quote(schema)}")
        except Exception as exc:
            raise PlanError(f"target schema {schema!r} does not exist and could not be created: {exc}") from exc

    def exists(self, table: TableName) -> bool:
        """Whether ``table`` exists (``to_regclass``: no error, no lock)."""
        return self.conn.run("SELECT to_regclass(:name) IS NOT NULL", name=qualified(table))[0][0]

    def staging_table(self, table: TableName, *, bulk: bool = False) -> TableName:
        """``<table>__staging`` (bulk: ``<table>__bulk__staging``), shortened with a hash past PostgreSQL's 63 bytes."""
        return ddl.staging_table(table, bulk=bulk)

    def claim(self, table: TableName) -> None:
        """Hold ``table`` against other runs until this transaction ends (waiting, and saying so, while one writes it)."""
        claims.claim_table(self.conn, table)

    def create_table(self, table: TableName, columns: Sequence[TargetColumn], *, replace: bool) -> None:
        """``CREATE TABLE`` (identity as GENERATED ALWAYS AS IDENTITY), after dropping ``table`` when ``replace``."""
        if replace:
            self.conn.run(f"DROP TABLE IF EXISTS {qualified(table)}")
        self.conn.run(ddl.create_table_sql(table, columns))

    def drop_table(self, table: TableName) -> None:
        """``DROP TABLE IF EXISTS``."""
        self.conn.run(f"DROP TABLE IF EXISTS {qualified(table)}")

    def add_primary_key(self, table: TableName, key: Sequence[str]) -> None:
        """The primary key, named ``<table>_pkey`` (a staging table's key is renamed by the swap)."""
        self.conn.run(ddl.primary_key_sql(table, key, name=ddl.derived_name(table.name, ddl.KEY_SUFFIX)))

    def create_indexes(self, table: TableName, indexes: Sequence[Index]) -> None:
        """The source's secondary indexes on a staging table, under names the swap renames."""
        for index in indexes:
            self.conn.run(ddl.index_sql(table, index, name=ddl.staging_index_name(index)))

    def copy_in(
        self, table: TableName, columns: Sequence[TargetColumn], chunks: Iterable[bytes], *, fresh: bool
    ) -> int:
        """``COPY ... FROM STDIN``; returns the rows the server loaded."""
        column_list = ", ".join(quote(c.name) for c in columns)
        # FREEZE: the table was created in this transaction, so rows can be written already frozen
        # (no later VACUUM rewrite of every page); a table that existed before cannot take it.
        options = " WITH (FREEZE)" if fresh else ""
        self.conn.run(f"COPY {qualified(table)} ({column_list}) FROM STDIN{options}", stream=chunks)
        return self.conn.row_count

    def clear_range(self, table: TableName, key_range: KeyRange | KeySet | None) -> None:
        """``DELETE`` a key range's rows, or ``TRUNCATE`` for the whole table."""
        if key_range is None:  # the whole table
            self.conn.run(f"TRUNCATE {qualified(table)}")
            return
        where, params = POSTGRES.range_filter(key_range)
        self.conn.run(f"DELETE FROM {qualified(table)}{where}", **params)

    def shape(self, table: TableName) -> Shape | None:
        """Columns (``format_type`` spelling, nullability) in order and the primary key; None without the table."""
        if not self.exists(table):
            return None
        columns = self.conn.run(
            "SELECT attname, format_type(atttypid, atttypmod), NOT attnotnull FROM pg_attribute "
            "WHERE attrelid = to_regclass(:t) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            t=qualified(table),
        )
        key = self.conn.run(
            "SELECT a.attname FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
            "WHERE i.indrelid = to_regclass(:t) AND i.indisprimary ORDER BY k.n",
            t=qualified(table),
        )
        return tuple((name, kind, nullable) for name, kind, nullable in columns), tuple(name for (name,) in key)

    def swap(
        self,
        staging: TableName,
        table: TableName,
        *,
        columns: Sequence[TargetColumn],
        indexes: Sequence[Index],
        has_key: bool,
    ) -> None:
        """Drop ``table``, rename ``staging`` with its key, indexes and identity sequence; align identity; ANALYZE.

        The old table's owner, grants, comments and row-level security go over to the new one.
        """
        sequence = self._identity_sequence(staging, columns)
        attached = attachments.read(self.conn, table)
        for statement in ddl.swap_sql(staging, table, indexes=indexes, has_key=has_key):
            self.conn.run(statement)
        if sequence:
            new_name = ddl.derived_name(table.name, "_" + identity_column(columns) + "_seq")
            self.conn.run(f"ALTER SEQUENCE {sequence} RENAME TO {quote(new_name)}")
            self.align_identity(table, columns)
        if attached is not None:
            current = self.conn.run("SELECT current_user")[0][0]
            names = {c.name for c in columns}
            for statement in attachments.restore_sql(attached, table, columns=names, current_owner=current):
                self.conn.run(statement)
        self.conn.run(f"ANALYZE {qualified(table)}")

    def dependent_views(self, table: TableName) -> list[str]:
        """Views on ``table``: the swap drops the table, which a view on it forbids (found before data moves)."""
        return attachments.dependent_views(self.conn, table)

    def align_identity(self, table: TableName, columns: Sequence[TargetColumn]) -> None:
        """``setval`` past ``max(identity)``; the next value is 1 when no value is positive."""
        column = identity_column(columns)
        if column:
            sql, params = ddl.align_identity_sql(table, column)
            self.conn.run(sql, **params)

    def _identity_sequence(self, table: TableName, columns: Sequence[TargetColumn]) -> str | None:
        """The identity sequence's name as the server quotes it (safe to splice: it is the server's own)."""
        column = identity_column(columns)
        if not column:
            return None
        return self.conn.run("SELECT pg_get_serial_sequence(:t, :c)", t=qualified(table), c=column)[0][0]

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def foreign_keys(self, schema: str) -> list[Reference]:
        """Every foreign key from or to a table of ``schema`` (``pg_constraint``), with its actions."""
        return [
            Reference(
                TableName(s, t),
                name,
                tuple(cols),
                TableName(rs, rt),
                tuple(ref_cols),
                ddl.ACTION_CODES[on_delete],
                ddl.ACTION_CODES[on_update],
            )
            for s, t, name, cols, rs, rt, ref_cols, on_delete, on_update in self.conn.run(
                TARGET_FOREIGN_KEYS_SQL, schema=schema
            )
        ]

    def drop_foreign_key(self, reference: Reference) -> None:
        """``ALTER TABLE ... DROP CONSTRAINT IF EXISTS``."""
        self.conn.run(f"ALTER TABLE {qualified(reference.table)} DROP CONSTRAINT IF EXISTS {quote(reference.name)}")

    def add_foreign_key(self, reference: Reference) -> Status:
        """``ADD CONSTRAINT ... NOT VALID`` (a brief lock, no scan), then ``VALIDATE CONSTRAINT`` in its own transaction.

        VALIDATE scans the referencing table against the referenced key's index while reads and
        writes go on (SHARE UPDATE EXCLUSIVE); a violating row fails it, and the key stays NOT VALID.
        """
        try:
            with self.transaction():
                self.conn.run(ddl.add_foreign_key_sql(reference))
        except DatabaseError as exc:  # the server answered: refused (a lost connection is an InterfaceError)
            raise ForeignKeyRefused(_message(exc)) from exc
        try:
            with self.transaction():
                self.conn.run(f"ALTER TABLE {qualified(reference.table)} VALIDATE CONSTRAINT {quote(reference.name)}")
        except DatabaseError as exc:
            if _sqlstate(exc) == FOREIGN_KEY_VIOLATION:
                return Status.NOT_VALID
            raise
        return Status.VALIDATED

    def dangling_references(
        self, reference: Reference, *, key: Sequence[str], limit: int
    ) -> tuple[int, list[tuple[Any, ...]]]:
        """How many rows reference no row, and the first ``limit`` of them by ``key``."""
        count_sql, sample_sql = ddl.dangling_sql(reference, key)
        count = self.conn.run(count_sql)[0][0]
        return count, [tuple(row) for row in self.conn.run(sample_sql, limit=limit)] if count else []


def _message(exc: DatabaseError) -> str:
    """The server's message (``M``) from pg8000's error fields."""
    fields = exc.args[0] if exc.args else None
    return fields.get("M", str(exc)) if isinstance(fields, dict) else str(exc)


def _sqlstate(exc: DatabaseError) -> str | None:
    """The SQLSTATE pg8000 puts in its error's first argument (a dict of the server's fields)."""
    fields = exc.args[0] if exc.args else None
    return fields.get("C") if isinstance(fields, dict) else None
