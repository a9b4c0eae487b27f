"""Helpers for the tests that need a real SQL Server: the server's URL, connections, scratch databases, copies.

Every SQL Server connection goes through the project's own ``mssql.source.connect_mssql``, and
every copy through ``load.replicate_table`` with the project's ``SqlServerSource``: these tests
check the code paths the DAGs run, not a second implementation of them.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Generator, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote as quote_url
from urllib.parse import unquote, urlsplit

import pg8000.native
import sqlglot
from pg8000.native import identifier
from sqlglot import exp

from include.replication.load import replicate_table
from include.replication.models import SourceColumn, SourceTable, TableName, TargetColumn
from include.replication.mssql.dialect import qualified, quote
from include.replication.mssql.source import SqlServerSource, connect_mssql
from include.replication.mssql.types import map_table
from include.replication.plan import TableJob
from include.replication.postgres.target import PostgresTarget
from include.replication.report import TableReport
from include.replication.settings import NulPolicy, ReplicationSettings, VerifyMode
from include.stackoverflow.database import connect
from include.stackoverflow.schema import MAX
from tests.conftest import database_url

MSSQL_URL_ENV = "REPLICATION_TEST_MSSQL_URL"
SKIP_REASON = f"{MSSQL_URL_ENV} is not set: no SQL Server to test against; see tests/mssql/README.md"
LOGIN_TIMEOUT_S = 10  # a wrong host or a stopped container fails the session in seconds
MIN_MAJOR_VERSION = 15  # SQL Server 2019: the checksums hash text under a _UTF8 collation
SCRATCH_COLLATION = "SQL_Latin1_General_CP1_CI_AS"  # StackOverflow2010's collation
STACKOVERFLOW2010 = "StackOverflow2010"
TSQL_SCRIPT = Path(__file__).resolve().parents[2] / "include" / "stackoverflow" / "sql" / "stackoverflow2010_mssql.sql"


@dataclass(frozen=True)
class MssqlServer:
    """The SQL Server named by ``REPLICATION_TEST_MSSQL_URL`` (``mssql://user:password@host:port/database``)."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str

    @classmethod
    def from_url(cls, url: str) -> MssqlServer:
        """Parse the URL; user and password may be percent-encoded (``@`` as ``%40``, ``#`` as ``%23``)."""
        parts = urlsplit(url)
        if parts.scheme != "mssql" or not parts.hostname or not parts.username:
            raise ValueError(
                f"{MSSQL_URL_ENV} must look like mssql://user:password@host:port/database, got {redact(url)}"
            )
        return cls(
            host=parts.hostname,
            port=parts.port or 1433,
            user=unquote(parts.username),
            password=unquote(parts.password or ""),
            database=unquote(parts.path.lstrip("/")) or "master",
        )

    def describe(self, database: str | None = None) -> str:
        """The URL for messages: everything but the password."""
        return f"mssql://{self.user}:***@{self.host}:{self.port}/{database or self.database}"

    def connect(self, database: str | None = None) -> Any:
        """A pymssql connection (autocommit) opened by the project's ``connect_mssql``."""
        return connect_mssql(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=database or self.database,
            login_timeout=LOGIN_TIMEOUT_S,
        )

    def airflow_uri(self, database: str) -> str:
        """An Airflow connection URI (``AIRFLOW_CONN_*``) for ``database``: conn_type mssql, the database as schema."""
        user, password = quote_url(self.user, safe=""), quote_url(self.password, safe="")
        return (
            f"mssql://{user}:{password}@{self.host}:{self.port}/{quote_url(database, safe='')}"
            f"?login_timeout={LOGIN_TIMEOUT_S}"
        )


def redact(url: str) -> str:
    """``url`` with the password replaced by ``***``."""
    return re.sub(r"(//[^/@:]*:)[^@/]*@", r"\1***@", url)


def driver_message(exc: BaseException, secret: str = "") -> str:
    """A pymssql error as one readable line (its args are ``(code, b'message')``, lines often repeated).

    ``secret`` (the password) is masked should the driver ever echo it; FreeTDS's messages do not.
    """
    args: Sequence[Any] = exc.args
    if len(args) == 1 and isinstance(args[0], tuple):
        args = args[0]
    text = "\n".join(a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a) for a in args)
    lines = dict.fromkeys(line.strip() for line in text.splitlines() if line.strip())  # unique, in order
    message = " ".join(lines) or type(exc).__name__
    return message.replace(secret, "***") if len(secret) >= 4 else message  # masking "x" would garble the text


# --- SQL Server statements --------------------------------------------------------------------------


def execute(conn: Any, sql: str, params: tuple[Any, ...] | None = None) -> None:
    """Run one batch. Without parameters pymssql sends the text untouched (no ``%`` substitution)."""
    cursor = conn.cursor()
    try:
        if params is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, params)
    finally:
        cursor.close()


def query(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    """Rows of one SELECT, as pymssql returns them."""
    cursor = conn.cursor()
    try:
        cursor.execute(sql)
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        cursor.close()


@contextmanager
def scratch_database(server: MssqlServer, prefix: str) -> Generator[str, None, None]:
    """A new database on the server (StackOverflow2010's collation), dropped afterwards; yields its name."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    admin = server.connect()
    try:
        execute(admin, f"CREATE DATABASE {quote(name)} COLLATE {SCRATCH_COLLATION}")
        yield name
    finally:
        # ROLLBACK IMMEDIATE ends sessions a failed test left open on the database
        execute(
            admin,
            f"IF DB_ID(N'{name}') IS NOT NULL BEGIN "
            f"ALTER DATABASE {quote(name)} SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE {quote(name)}; END",
        )
        admin.close()


def unique_name(prefix: str) -> str:
    """A table name no other test in the session uses."""
    return f"{prefix}_{secrets.token_hex(3)}"


def database_state(server: MssqlServer, database: str) -> str | None:
    """``sys.databases.state_desc`` of ``database`` (ONLINE, RECOVERY_PENDING, ...), None when it does not exist."""
    admin = server.connect()
    try:
        rows = query(admin, f"SELECT state_desc FROM sys.databases WHERE name = N'{database.replace(chr(39), '')}'")
    finally:
        admin.close()
    return rows[0][0] if rows else None


def insert_rows(
    conn: Any,
    table: str,
    columns: Sequence[str],
    rows: Iterable[tuple[Any, ...]],
    *,
    datetime_columns: Iterable[str] = (),
    identity_insert: bool = False,
    batch: int = 500,
) -> int:
    """Insert ``rows`` in multi-row INSERTs, values substituted by pymssql (strings as N'...'); return the count.

    ``datetime_columns`` hold ``YYYY-MM-DD hh:mm:ss.mmm`` strings, converted with style 121 so that
    the session's language and DATEFORMAT cannot reorder day and month.
    """
    converted = set(datetime_columns)
    one = "(" + ", ".join("CONVERT(datetime, %s, 121)" if c in converted else "%s" for c in columns) + ")"
    head = f"INSERT INTO {qualified(TableName('dbo', table))} ({', '.join(quote(c) for c in columns)}) VALUES "
    if identity_insert:  # a session setting: the same connection inserts every batch
        execute(conn, f"SET IDENTITY_INSERT {qualified(TableName('dbo', table))} ON")
    count, pending = 0, []
    try:
        for row in [*rows, None]:
            if row is not None:
                pending.append(row)
            if pending and (row is None or len(pending) == batch):
                execute(conn, head + ", ".join([one] * len(pending)), tuple(v for r in pending for v in r))
                count, pending = count + len(pending), []
    finally:
        if identity_insert:
            execute(conn, f"SET IDENTITY_INSERT {qualified(TableName('dbo', table))} OFF")
    return count


def fit_utf16(value: Any, length: int | None) -> Any:
    """``value`` cut to ``length`` UTF-16 code units (nvarchar(n) counts units, PostgreSQL varchar(n) characters)."""
    if not isinstance(value, str) or length in (None, MAX):
        return value
    while len(value.encode("utf-16-le")) // 2 > length:
        value = value[:-1]
    return value


# --- copies through the project's own code -------------------------------------------------------------


def source_table(conn: Any, name: str, schema: str = "dbo") -> SourceTable:
    """``name`` as the project's catalog reader (``SqlServerSource.fetch_tables``) sees it."""
    tables = {t.name: t for t in SqlServerSource(conn).fetch_tables(schema)}
    assert name in tables, f"{schema}.{name} not in the catalog: {sorted(tables)}"
    return tables[name]


def copy_table(
    conn: Any,
    table: SourceTable,
    target_url: str,
    *,
    columns: tuple[TargetColumn, ...] | None = None,
    nul_policy: str = "strip",
    verify: str = "checksums",
    target_schema: str = "public",
) -> TableReport:
    """``replicate_table`` from SQL Server into ``target_url``, as the streaming DAG's task does."""
    settings = ReplicationSettings(target_schema=target_schema, nul_policy=NulPolicy(nul_policy),
                                   verify=VerifyMode(verify))  # fmt: skip
    job = TableJob(table, columns if columns is not None else map_table(table), settings)
    target = PostgresTarget(connect(target_url))
    try:
        return replicate_table(job, source=SqlServerSource(conn), target=target)
    finally:
        try:
            target.close()
        except pg8000.native.InterfaceError:
            pass  # a failed COPY's rollback may have closed it already


# --- the PostgreSQL side ----------------------------------------------------------------------------


@contextmanager
def pg_database(server_url: str, prefix: str) -> Generator[str, None, None]:
    """A new PostgreSQL database for a whole module's tests, dropped afterwards; yields its URL."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = connect(server_url)
    try:
        admin.run(f"CREATE DATABASE {identifier(name)}")
        yield database_url(server_url, name)
    finally:
        admin.run(f"DROP DATABASE IF EXISTS {identifier(name)} WITH (FORCE)")
        admin.close()


def pg_execute(url: str, sql: str) -> None:
    """Run one statement on the target."""
    conn = connect(url)
    try:
        conn.run(sql)
    finally:
        conn.close()


def pg_rows(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Rows from the target, timestamptz read in UTC."""
    conn = connect(url)
    try:
        conn.run("SET TimeZone = 'UTC'")
        return [tuple(row) for row in conn.run(sql, **params)]
    finally:
        conn.close()


def xml_unsupported(url: str) -> str | None:
    """Why the target cannot hold xml values (a PostgreSQL built without libxml), or None when it can."""
    conn = connect(url)
    try:
        conn.run("SELECT '<a/>'::xml")
    except pg8000.native.DatabaseError as exc:
        error = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
        if error.get("C") != "0A000":  # feature_not_supported
            raise
        return f"{error.get('M')}: {error.get('D')}"
    finally:
        conn.close()
    return None


# --- StackOverflow2010 as the T-SQL script declares it -----------------------------------------------


def tsql_script_tables() -> dict[str, tuple[SourceColumn, ...]]:
    """The columns ``stackoverflow2010_mssql.sql`` declares, as the SourceColumns the catalog reader must return."""
    tables: dict[str, tuple[SourceColumn, ...]] = {}
    for statement in sqlglot.parse(TSQL_SCRIPT.read_text(), read="tsql"):
        if not isinstance(statement, exp.Create):
            continue
        columns = []
        for column in statement.this.expressions:
            if not isinstance(column, exp.ColumnDef):
                continue
            kind = column.args["kind"]
            base = kind.sql("tsql").split("(")[0].lower()
            type_name = {"integer": "int"}.get(base, base)
            length = None
            if kind.expressions:
                text = kind.expressions[0].sql("tsql").lower()
                length = MAX if text == "max" else int(text)
            constraints = [c.kind for c in column.constraints]
            # sqlglot parses an explicit NULL as NotNullColumnConstraint(allow_null=True)
            nullable = not any(
                isinstance(k, exp.NotNullColumnConstraint) and not k.args.get("allow_null") for k in constraints
            )
            identity = any(isinstance(k, exp.GeneratedAsIdentityColumnConstraint) for k in constraints)
            columns.append(SourceColumn(column.name, type_name, nullable, length, identity=identity))
        tables[statement.this.this.name] = tuple(columns)
    return tables
