"""SQL Server (or Babelfish) as the target: the steps of a staged load, in T-SQL.

``load.py`` decides their order and the transaction around them; each method here is one step.
The staging table is ``<table>__staging`` in the target schema, loaded with the source's ids
under ``SET IDENTITY_INSERT``, keyed, indexed and verified, then swapped in with ``sp_rename``
(``ALTER SCHEMA ... TRANSFER`` and renaming a constraint are refused by Babelfish), all in one
transaction. The primary key is left for the server to name: a name of our own would collide
with the live table's key until the swap, and Babelfish cannot rename a constraint afterwards.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Generator, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from include.replication.copy.text_format import decode_rows
from include.replication.foreign_keys import ForeignKeyRefused, Reference, Status
from include.replication.interfaces import Shape
from include.replication.models import Index, KeyRange, KeySet, SourceTable, TableName, TargetColumn, identity_column
from include.replication.mssql import catalog, insert, types
from include.replication.mssql.capabilities import Capabilities
from include.replication.mssql.checksums import SqlServerChecksums
from include.replication.mssql.dialect import TSQL, fetch_all, qualified, quote, run
from include.replication.plan import PlanError
from include.replication.settings import APPLICATION_NAME, NulPolicy
from include.replication.verify import CANONICAL, BucketSum

MAX_IDENTIFIER_CHARS = 128  # sysname
STAGING_SUFFIX = "__staging"
BULK_STAGING_SUFFIX = "__bulk__staging"  # a staging table that lives across tasks (as in PostgreSQL's ddl.py)


def staging_name(name: str, suffix: str = STAGING_SUFFIX) -> str:
    """``name + suffix``, shortened with a hash when it would pass SQL Server's 128 characters."""
    if len(name) + len(suffix) <= MAX_IDENTIFIER_CHARS:
        return name + suffix
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_IDENTIFIER_CHARS - len(suffix) - 9]}_{digest}{suffix}"


TARGET_FOREIGN_KEYS_SQL = (Path(__file__).parent / "sql" / "target" / "foreign_keys.sql").read_text()
CONSTRAINT_CONFLICT = 547  # error number: a statement conflicts with a FOREIGN KEY (or CHECK) constraint
# Babelfish refuses ALTER TABLE WITH [NO]CHECK with this number and "... is not currently supported in Babelfish"
UNSUPPORTED = 33557097

_REGULAR = re.compile(r"[A-Za-z_][A-Za-z0-9_@#$]*\Z")


def object_name(table: TableName) -> str:
    """``schema.name`` as text for ``sp_rename`` and ``DBCC CHECKIDENT``, bracketed only where a part needs it.

    SQL Server takes either spelling; Babelfish finds no object under a bracketed one, so brackets
    are used only where they are needed (a name with a dot or a space).
    """
    parts = (table.schema, table.name)
    return ".".join(p if _REGULAR.match(p) else quote(p) for p in parts)


def create_table_sql(table: TableName, columns: Sequence[TargetColumn]) -> str:
    """``CREATE TABLE`` with the columns' own types; an identity column as IDENTITY(1,1) (ids come explicit)."""
    lines = []
    for column in columns:
        identity = " IDENTITY(1,1)" if column.identity else ""
        lines.append(f"{quote(column.name)} {column.data_type}{identity} {'NULL' if column.nullable else 'NOT NULL'}")
    return f"CREATE TABLE {qualified(table)} ({', '.join(lines)})"


def value_templates(columns: Sequence[TargetColumn]) -> list[tuple[str, Any]]:
    """Per column: the INSERT template wrapping its value, and how its COPY text field is parsed."""
    found = []
    for column in columns:
        base = column.data_type.split("(")[0].lower()
        load = types.SQLSERVER_TYPES[base].load
        found.append((load.template.format(type=column.data_type), load.parse))
    return found


class SqlServerTarget(SqlServerChecksums):
    """A SQL Server target over one pymssql connection (autocommit between the explicit transactions)."""

    engine = "mssql"

    def __init__(self, conn: Any, capabilities: Capabilities | None = None) -> None:
        self.conn = conn
        self._capabilities = capabilities
        self._catalog: dict[TableName, SourceTable] = {}  # per table; a DDL step on it forgets it
        self._unchecked_foreign_keys: bool | None = None  # WITH NOCHECK ADD works (None: not tried yet)

    @contextmanager
    def transaction(self) -> Generator[None, None, None]:
        """One transaction: COMMIT on success; on any failure a rollback (or a closed connection) and re-raise."""
        run(self.conn, "BEGIN TRANSACTION")
        try:
            yield
            run(self.conn, "COMMIT TRANSACTION")
        except BaseException:
            self._rollback_quietly()
            raise

    def _rollback_quietly(self) -> None:
        # A killed session or a broken connection cannot roll back: the server does, when it goes.
        try:
            run(self.conn, "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION")
        except Exception:
            try:
                self.conn.close()
            except Exception:
                pass

    def ensure_schema(self, schema: str) -> None:
        """Create ``schema`` if it is missing (needs CREATE SCHEMA; says so if not allowed)."""
        if fetch_all(self.conn, "SELECT SCHEMA_ID(%(schema)s)", {"schema": schema})[0][0] is not None:
            return
        try:  # CREATE SCHEMA must be alone in its batch
            run(self.conn, "EXEC(%(ddl)s)", {"ddl": f"CREATE SCHEMA {quote(schema)}"})
        except Exception as exc:
            raise PlanError(f"target schema {schema!r} does not exist and could not be created: {exc}") from exc

    def exists(self, table: TableName) -> bool:
        """Whether ``table`` exists as a user table."""
        return fetch_all(self.conn, "SELECT OBJECT_ID(%(name)s, 'U')", {"name": qualified(table)})[0][0] is not None

    def staging_table(self, table: TableName, *, bulk: bool = False) -> TableName:
        """``<table>__staging`` (bulk: ``<table>__bulk__staging``) in the same schema."""
        return TableName(table.schema, staging_name(table.name, BULK_STAGING_SUFFIX if bulk else STAGING_SUFFIX))

    def claim(self, table: TableName) -> None:
        """Hold ``table`` against other runs until this transaction ends: an exclusive application lock on its name.

        ``sp_getapplock`` waits for a holder without a limit (the task's execution_timeout is the limit).
        The database is part of the name: Babelfish keeps every T-SQL database in one PostgreSQL database.
        """
        run(self.conn, "DECLARE @r int, @name nvarchar(255) = CONCAT(%s, DB_NAME(), N'.', %s); "
            "EXEC @r = sp_getapplock @Resource = @name, @LockMode = 'Exclusive', @LockOwner = 'Transaction', "
            "@LockTimeout = -1; IF @r < 0 THROW 50000, 'sp_getapplock failed', 1",
            (f"{APPLICATION_NAME}:", table.qualified))  # fmt: skip

    def create_table(self, table: TableName, columns: Sequence[TargetColumn], *, replace: bool) -> None:
        """``CREATE TABLE``, after dropping ``table`` when ``replace``."""
        self._catalog.pop(TableName(table.schema, table.name), None)
        if replace:
            run(self.conn, f"DROP TABLE IF EXISTS {qualified(table)}")
        run(self.conn, create_table_sql(table, columns))

    def drop_table(self, table: TableName) -> None:
        """``DROP TABLE IF EXISTS``."""
        self._catalog.pop(TableName(table.schema, table.name), None)
        run(self.conn, f"DROP TABLE IF EXISTS {qualified(table)}")

    def add_primary_key(self, table: TableName, key: Sequence[str]) -> None:
        """The clustered primary key, named by the server (see the module's docstring)."""
        run(self.conn, f"ALTER TABLE {qualified(table)} ADD PRIMARY KEY CLUSTERED ({', '.join(quote(c) for c in key)})")

    def create_indexes(self, table: TableName, indexes: Sequence[Index]) -> None:
        """The source's secondary indexes, under their own names (index names are per table in SQL Server)."""
        for index in indexes:
            unique = "UNIQUE " if index.unique else ""
            columns = ", ".join(quote(c) for c in index.columns)
            run(self.conn, f"CREATE {unique}INDEX {quote(index.name)} ON {qualified(table)} ({columns})")

    def copy_in(
        self, table: TableName, columns: Sequence[TargetColumn], chunks: Iterable[bytes], *, fresh: bool
    ) -> int:
        """Load COPY text into ``table`` in multi-row INSERTs, ids as given; returns the rows loaded."""
        loads = value_templates(columns)
        rows = (
            tuple(None if value is None else parse(value) for value, (_, parse) in zip(row, loads, strict=True))
            for row in decode_rows(chunks)
        )
        return insert.insert_rows(
            self.conn,
            table,
            [c.name for c in columns],
            [template for template, _ in loads],
            rows,
            identity_insert=identity_column(columns) is not None,
        )

    def clear_range(self, table: TableName, key_range: KeyRange | KeySet | None) -> None:
        """``DELETE`` a key range's rows, or ``TRUNCATE`` for the whole table."""
        if key_range is None:
            run(self.conn, f"TRUNCATE TABLE {qualified(table)}")
            return
        where, params = TSQL.range_filter(key_range)
        run(self.conn, f"DELETE FROM {qualified(table)}{where}", params)

    def swap(
        self,
        staging: TableName,
        table: TableName,
        *,
        columns: Sequence[TargetColumn],
        indexes: Sequence[Index],
        has_key: bool,
    ) -> None:
        """Drop ``table`` and rename ``staging`` to it (key and indexes go with it); align the identity."""
        self._catalog.clear()
        run(self.conn, f"DROP TABLE IF EXISTS {qualified(table)}")
        run(self.conn, "EXEC sp_rename %(old)s, %(new)s, 'OBJECT'", {"old": object_name(staging), "new": table.name})
        self.align_identity(table, columns)

    def dependent_views(self, table: TableName) -> list[str]:
        """None block the swap: a SQL Server view binds by name and finds the new table (unless SCHEMABINDING)."""
        return []

    def align_identity(self, table: TableName, columns: Sequence[TargetColumn]) -> None:
        """Next identity value past ``MAX(id)``, 1 when no id is positive; an empty table keeps its seed (1).

        ``DBCC CHECKIDENT ... RESEED n`` makes the next value n + 1 once rows were inserted, and a
        table that never held a row starts at its seed anyway.
        """
        column = identity_column(columns)
        if not column:
            return
        (highest,) = fetch_all(self.conn, f"SELECT MAX({quote(column)}) FROM {qualified(table)}")[0]
        if highest is None:
            return
        name = object_name(table).replace("'", "''")
        run(self.conn, f"DBCC CHECKIDENT ('{name}', RESEED, {max(int(highest), 0)}) WITH NO_INFOMSGS")

    def shape(self, table: TableName) -> Shape | None:
        """Columns (type with its length, precision and scale; nullability) in order and the primary key.

        Names case-folded: SQL Server compares identifiers without case under the usual collations,
        and Babelfish's catalog may spell a renamed table's columns in lower case (see ``_catalog_table``).
        """
        if not self.exists(table):
            return None
        found = self._catalog_table(table)
        columns = tuple(
            (c.name.casefold(), f"{c.data_type}({c.char_length},{c.precision},{c.scale})", c.nullable)
            for c in found.columns
        )
        return columns, tuple(c.casefold() for c in found.primary_key)

    def _catalog_table(self, table: TableName, columns: Sequence[TargetColumn] = ()) -> SourceTable:
        """``table`` as the catalog describes it: the checksums' canonical text depends on each column's type."""
        name = TableName(table.schema, table.name)
        if name not in self._catalog:
            found = {t.name: t for t in catalog.fetch_tables(self.conn, table.schema)}
            # Babelfish keeps a table's pre-sp_rename name in INFORMATION_SCHEMA, so a swapped-in
            # table is known only by sys.*'s lower-case spelling; identifiers compare without case.
            folded = {t.casefold(): t for t in found}
            if table.name not in found and table.name.casefold() not in folded:
                raise LookupError(f"{table.qualified}: not in the target's catalog")
            self._catalog[name] = found.get(table.name) or found[folded[table.name.casefold()]]
        described = self._catalog[name]
        spelled = {c.name.casefold(): c.name for c in columns}  # the copy's spelling of each column, if it differs
        if not spelled or all(c.name in spelled.values() for c in described.columns):
            return described
        return replace(
            described,
            columns=tuple(replace(c, name=spelled.get(c.name.casefold(), c.name)) for c in described.columns),
            primary_key=tuple(spelled.get(k.casefold(), k) for k in described.primary_key),
        )

    def bucket_checksums(
        self,
        table: TableName,
        columns: Sequence[TargetColumn],
        *,
        key: str | None,
        width: int,
        nul_policy: NulPolicy,
        key_range: KeyRange | KeySet | None = None,
        form: str = CANONICAL,
    ) -> dict[int, BucketSum]:
        """As the source computes them, over this copy's own columns."""
        return super().bucket_checksums(
            self._catalog_table(table, columns),
            columns,
            key=key,
            width=width,
            nul_policy=nul_policy,
            key_range=key_range,
            form=form,
        )

    def row_hashes(
        self,
        table: TableName,
        columns: Sequence[TargetColumn],
        *,
        key_range: KeyRange | KeySet,
        nul_policy: NulPolicy,
        form: str = CANONICAL,
    ) -> dict[Any, str]:
        """As the source computes them, over this copy's own columns."""
        return super().row_hashes(
            self._catalog_table(table, columns), columns, key_range=key_range, nul_policy=nul_policy, form=form
        )

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def foreign_keys(self, schema: str) -> list[Reference]:
        """Every foreign key from or to a table of ``schema`` (``sys.foreign_keys``), with its actions."""
        found: dict[tuple[str, str, str], list[Any]] = {}
        for s, t, name, column, rs, rt, referenced, on_delete, on_update in fetch_all(
            self.conn, TARGET_FOREIGN_KEYS_SQL, {"schema": schema}
        ):
            entry = found.setdefault((s, t, name), [TableName(rs, rt), [], [], on_delete, on_update])
            entry[1].append(column)
            entry[2].append(referenced)
        return [
            Reference(
                TableName(s, t),
                name,
                tuple(columns),
                table,
                tuple(referenced),
                on_delete.replace("_", " "),
                on_update.replace("_", " "),
            )
            for (s, t, name), (table, columns, referenced, on_delete, on_update) in found.items()
        ]

    def drop_foreign_key(self, reference: Reference) -> None:
        """``ALTER TABLE ... DROP CONSTRAINT IF EXISTS``."""
        run(self.conn, f"ALTER TABLE {qualified(reference.table)} DROP CONSTRAINT IF EXISTS {quote(reference.name)}")

    def add_foreign_key(self, reference: Reference) -> Status:
        """``WITH NOCHECK ADD CONSTRAINT`` (no scan), then ``WITH CHECK CHECK CONSTRAINT``: trusted, or left untrusted.

        A server that refuses WITH NOCHECK (Babelfish: "not currently supported", probed on the
        first foreign key) gets a plain, checked ``ADD CONSTRAINT``: where rows violate it, it is
        not created (``NOT_CREATED``), for such a server cannot keep an untrusted one.
        """
        table, name = qualified(reference.table), quote(reference.name)
        definition = _foreign_key_definition(reference)
        if self._unchecked_foreign_keys is not False:
            try:
                run(self.conn, f"ALTER TABLE {table} WITH NOCHECK ADD CONSTRAINT {name} {definition}")
                self._unchecked_foreign_keys = True
            except Exception as exc:
                if self._unchecked_foreign_keys is None and _error_number(exc) == UNSUPPORTED:
                    self._unchecked_foreign_keys = False
                elif refused := _refusal(exc):
                    raise refused from exc
                else:
                    raise
        statement = (f"ALTER TABLE {table} WITH CHECK CHECK CONSTRAINT {name}" if self._unchecked_foreign_keys
                     else f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")  # fmt: skip
        try:
            run(self.conn, statement)
        except Exception as exc:
            if _error_number(exc) != CONSTRAINT_CONFLICT:
                if refused := _refusal(exc):
                    raise refused from exc
                raise
            return Status.NOT_VALID if self._unchecked_foreign_keys else Status.NOT_CREATED
        return Status.VALIDATED

    def dangling_references(
        self, reference: Reference, *, key: Sequence[str], limit: int
    ) -> tuple[int, list[tuple[Any, ...]]]:
        """How many rows reference no row, and the first ``limit`` of them by ``key``."""
        source, shown, order = TSQL.dangling_rows(reference, key)
        count = fetch_all(self.conn, f"SELECT COUNT_BIG(*) {source}")[0][0]
        if not count:
            return 0, []
        rows = fetch_all(self.conn, f"SELECT TOP (%(limit)s) {shown} {source} ORDER BY {order}", {"limit": limit})
        return int(count), [tuple(row) for row in rows]


def _foreign_key_definition(reference: Reference) -> str:
    columns = ", ".join(quote(c) for c in reference.columns)
    referenced = ", ".join(quote(c) for c in reference.referenced_columns)
    return (f"FOREIGN KEY ({columns}) REFERENCES {qualified(reference.referenced)} ({referenced}) "
            f"ON DELETE {reference.on_delete} ON UPDATE {reference.on_update}")  # fmt: skip


def _refusal(exc: BaseException) -> ForeignKeyRefused | None:
    """A server's refusal as ``ForeignKeyRefused`` with its message; None for anything else (a lost connection).

    pymssql gives the server's error number and message; numbers 20000-20999 are DB-Lib's own
    (the client's: timeouts, a dropped connection), not the server's answer.
    """
    number = _error_number(exc)
    if number is None or 20000 <= number < 21000:
        return None
    detail = exc.args[1] if len(exc.args) > 1 else b""
    message = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail or exc)
    return ForeignKeyRefused(message.split("DB-Lib error")[0].strip())


def _error_number(exc: BaseException) -> int | None:
    """The server's error number pymssql puts first in its exception's arguments."""
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
