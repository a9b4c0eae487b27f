"""Helpers for the tests that need a real SQL Server: the server's URL, connections, scratch databases, copies.

Every SQL Server connection goes through the project's own ``mssql.connect.connect_mssql``, and
every copy through ``load.replicate_table`` with the project's ``SqlServerSource``: these tests
check the code paths the DAGs run, not a second implementation of them.

A server that speaks T-SQL but is not SQL Server (Babelfish for PostgreSQL) lacks some of what the
tests use. ``probe_traits`` finds out once, at session start, by trying each thing and watching
what happens, never by the server's name or version: each difference found is a ``Deviation``
that names itself and its probe, and the tests that meet it skip or adapt saying so (the table in
README.md). Against SQL Server 2016 and later every probe passes and nothing is skipped or adapted.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Generator, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote as quote_url
from urllib.parse import unquote, urlsplit

import pg8000.native
import pymssql
import pytest
from pg8000.native import identifier

from include.replication.load import replicate_table
from include.replication.models import SourceColumn, SourceTable, TableName, TargetColumn
from include.replication.mssql.capabilities import SQL_SERVER_2019, Capabilities, probe
from include.replication.mssql.connect import connect_mssql
from include.replication.mssql.dialect import qualified, quote
from include.replication.mssql.source import SqlServerSource
from include.replication.mssql.types import SQLSERVER_TYPES, map_table
from include.replication.plan import TableJob
from include.replication.postgres.target import PostgresTarget
from include.replication.report import TableReport
from include.replication.settings import NulPolicy, ReplicationSettings, VerifyMode
from include.stackoverflow import sqlserver
from include.stackoverflow.database import connect
from include.stackoverflow.schema import MAX
from tests.conftest import database_url, dev_package

MSSQL_URL_ENV = "REPLICATION_TEST_MSSQL_URL"
SKIP_REASON = f"{MSSQL_URL_ENV} is not set: no SQL Server to test against; see tests/mssql/README.md"
LOGIN_TIMEOUT_S = 10  # a wrong host or a stopped container fails the session in seconds
MIN_MAJOR_VERSION = 13  # SQL Server 2016: older servers lack types and functions the project reads with
SCRATCH_COLLATION = "SQL_Latin1_General_CP1_CI_AS"  # StackOverflow2010's collation
STACKOVERFLOW2010 = "StackOverflow2010"
TSQL_SCRIPT = Path(__file__).resolve().parents[2] / "include" / "stackoverflow" / "sql" / "stackoverflow2010_mssql.sql"
SC_COLLATION = "Latin1_General_100_CI_AS_SC"  # supplementary characters: nvarchar functions see surrogate pairs
LONE_SURROGATE_UTF16LE = "0x410000D84200"  # "A", U+D800 alone, "B": as nvarchar, three UTF-16 code units
DATETIME2_100NS = "2010-07-31 23:59:59.1234567"  # the 7th fraction digit: 100 ns, SQL Server's time resolution
# Types a T-SQL server may refuse until a server setting allows them: the type, (setting, value)
ESCAPE_HATCHES = {
    "rowversion": ("babelfishpg_tsql.escape_hatch_rowversion", "ignore"),
    "timestamp": ("babelfishpg_tsql.escape_hatch_rowversion", "ignore"),
}
DROP_RETRY_S = 10  # KILL ends a session asynchronously: DROP DATABASE may see it for a moment


@dataclass(frozen=True)
class Deviation:
    """One way the server differs from SQL Server, as a probe at session start found it.

    ``what`` says what differs, ``probe`` what was tried; ``str()`` is the skip or adaptation
    reason the tests give, so every reason names both.
    """

    what: str
    probe: str

    def __str__(self) -> str:
        return f"{self.what} [probe: {self.probe}]"


@dataclass(frozen=True)
class ServerTraits:
    """What the tests need to know about the server. The defaults are SQL Server's: no deviation.

    ``capabilities`` is the product's own probe (``mssql.capabilities.probe``); ``session_settings``
    are the escape hatches every test connection sets with ``sp_babelfish_configure``;
    ``unsupported_types`` maps a ``SQLSERVER_TYPES`` name the server cannot create to why.
    """

    capabilities: Capabilities = SQL_SERVER_2019
    session_settings: tuple[tuple[str, str], ...] = ()
    escape_hatch: Deviation | None = None  # why ``session_settings`` are needed
    single_user: Deviation | None = None  # ALTER DATABASE ... SET SINGLE_USER refused
    nul: Deviation | None = None  # text cannot hold U+0000
    sc_collation: Deviation | None = None  # no Latin1_General_100_CI_AS_SC
    lone_surrogate: Deviation | None = None  # nvarchar cannot hold an unpaired UTF-16 surrogate
    fraction_100ns: Deviation | None = None  # datetime2(7)/time(7)/datetimeoffset(7) keep 6 digits, rounded
    sysname_base: Deviation | None = None  # the catalog reports sysname columns as sysname, not nvarchar
    rowversion_nullable: Deviation | None = None  # rowversion columns are nullable
    unsupported_types: dict[str, Deviation] = field(default_factory=dict)

    def deviations(self) -> list[Deviation]:
        """Every deviation found, for the session's summary."""
        found = [self.escape_hatch, self.single_user, self.nul, self.sc_collation, self.lone_surrogate,
                 self.fraction_100ns, self.sysname_base, self.rowversion_nullable,
                 *self.unsupported_types.values()]  # fmt: skip
        return [d for d in found if d is not None]


SQL_SERVER = ServerTraits()


def skip_for(deviation: Deviation | None) -> None:
    """Skip the test when the probes found ``deviation``, giving it (what differs, and the probe) as the reason."""
    __tracebackhide__ = True  # the skip is reported at the test's line, not here
    if deviation is not None:
        pytest.skip(f"server deviation: {deviation}")


@dataclass(frozen=True)
class MssqlServer:
    """The SQL Server named by ``REPLICATION_TEST_MSSQL_URL`` (``mssql://user:password@host:port/database``)."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str
    traits: ServerTraits = field(default=SQL_SERVER, repr=False, compare=False)  # set by probe_traits

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
        """A pymssql connection (autocommit) opened by the project's ``connect_mssql``, with the traits' escape hatches set.

        Nothing here is a stand-in: it is the project's own connection. The escape hatches (``sp_babelfish_configure``
        without a scope: this session only) let the tests create what SQL Server creates; the
        project's own connections in the DAG tests do not set them and need not (they only read).
        """
        conn = connect_mssql(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=database or self.database,
            login_timeout=LOGIN_TIMEOUT_S,
        )
        for name, value in self.traits.session_settings:
            execute(conn, "EXEC sp_babelfish_configure %s, %s", (name, value))
        return conn

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
        try:
            drop_database(admin, name, single_user=server.traits.single_user is None)
        finally:
            admin.close()


@contextmanager
def generated_stackoverflow(server: MssqlServer, prefix: str, *, scale: float, seed: int) -> Generator[str, None, None]:
    """A scratch database holding the nine tables of the T-SQL script with generated rows; yields its name."""
    with scratch_database(server, prefix) as name:
        conn = server.connect(name)
        try:
            sqlserver.generate(conn, scale=scale, seed=seed)
        finally:
            conn.close()
        yield name


def drop_database(admin: Any, name: str, *, single_user: bool = True) -> None:
    """Drop ``name`` if it exists, first ending the sessions a failed test left open on it.

    SQL Server: ``SET SINGLE_USER WITH ROLLBACK IMMEDIATE`` ends them and rolls their transactions
    back. A server that refuses ALTER DATABASE (``ServerTraits.single_user``) has each session that
    ``sys.dm_exec_sessions`` places in the database KILLed instead, and DROP retried for a moment,
    as a KILLed session ends asynchronously.
    """
    if single_user:
        execute(
            admin,
            f"IF DB_ID(N'{name}') IS NOT NULL BEGIN "
            f"ALTER DATABASE {quote(name)} SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE {quote(name)}; END",
        )
        return
    deadline = time.monotonic() + DROP_RETRY_S
    while query(admin, f"SELECT DB_ID(N'{name}')")[0][0] is not None:
        sessions = query(
            admin,
            "SELECT session_id FROM sys.dm_exec_sessions "
            f"WHERE database_id = DB_ID(N'{name}') AND session_id IS NOT NULL AND session_id <> @@SPID",
        )
        for (session,) in sessions:
            try:
                execute(admin, f"KILL {int(session)}")
            except pymssql.Error:
                pass  # it ended on its own meanwhile
        try:
            execute(admin, f"DROP DATABASE {quote(name)}")
        except pymssql.Error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def server_message(exc: BaseException) -> str:
    """What the server said: a pymssql error's message without its code and DB-Library's trailer."""
    args: Sequence[Any] = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], tuple) else exc.args
    message = args[-1] if args else b""
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return " ".join(text.split("DB-Lib error message")[0].split()) or type(exc).__name__


def refusal(conn: Any, sql: str) -> str | None:
    """None when the server runs ``sql``, else what it said."""
    try:
        execute(conn, sql)
    except pymssql.Error as exc:
        return server_message(exc)
    return None


# --- what the server can do: probed once, at session start ---------------------------------------------


def probe_traits(server: MssqlServer) -> ServerTraits:
    """Try, on the server, each thing the tests need beyond the product's own capabilities; the deviations found.

    Each probe does the thing and watches the result (nothing reads the server's name or version).
    They run in a probe database of their own, dropped at the end. Types are probed by creating a
    table with a column of each ``SQLSERVER_TYPES`` type; a type refused until an escape hatch is
    set (``ESCAPE_HATCHES``) is retried with the hatch on, when the server has
    ``sp_babelfish_configure``, and then every test connection sets it.
    """
    admin = server.connect()
    name = f"replication_probe_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        capabilities = probe(admin)
        has_configure = query(admin, "SELECT OBJECT_ID(N'sys.sp_babelfish_configure')")[0][0] is not None
        execute(admin, f"CREATE DATABASE {quote(name)}")
        single_user = probe_single_user(admin, name)  # before any session is in the probe database
        conn = server.connect(name)
        try:
            settings, escape_hatch, unsupported = probe_types(conn, has_configure=has_configure)
            create = f"CREATE TABLE [probe_sc] (c nvarchar(1) COLLATE {SC_COLLATION})"
            why = refusal(conn, create)
            return ServerTraits(
                capabilities=capabilities,
                session_settings=settings,
                escape_hatch=escape_hatch,
                single_user=single_user,
                nul=None if capabilities.holds_nul else Deviation(
                    "text cannot hold U+0000 (NCHAR(0) is NULL)",
                    "include/replication/mssql/capabilities.probe: CASE WHEN NCHAR(0) IS NULL THEN 0 ELSE 1 END",
                ),
                sc_collation=Deviation(f"the server has no collation {SC_COLLATION} ({why})", create) if why else None,
                lone_surrogate=probe_lone_surrogate(conn),
                fraction_100ns=probe_fraction_100ns(conn),
                sysname_base=probe_sysname_base(conn),
                rowversion_nullable=None if "rowversion" in unsupported else probe_rowversion_nullable(conn),
                unsupported_types=unsupported,
            )  # fmt: skip
        finally:
            conn.close()
    finally:
        try:
            drop_database(admin, name, single_user=False)  # the probe connection is closed: nothing to KILL
        finally:
            admin.close()


def probe_types(
    conn: Any, *, has_configure: bool
) -> tuple[tuple[tuple[str, str], ...], Deviation | None, dict[str, Deviation]]:
    """(escape hatches to set, why they are needed, the types the server cannot create): one table per type."""
    settings: list[tuple[str, str]] = []
    escape_hatch: Deviation | None = None
    unsupported: dict[str, Deviation] = {}
    for type_name in SQLSERVER_TYPES:
        create = f"CREATE TABLE [probe_{type_name}] (c {type_name})"
        why = refusal(conn, create)
        hatch = ESCAPE_HATCHES.get(type_name)
        if why and hatch and has_configure:
            execute(conn, "EXEC sp_babelfish_configure %s, %s", hatch)
            if refusal(conn, create) is None:
                settings.append(hatch)
                escape_hatch = Deviation(
                    f"a {type_name} column is refused ({why}) until {hatch[0]} is '{hatch[1]}': every test "
                    "connection sets it with sp_babelfish_configure (session scope)",
                    f"{create}, then EXEC sp_babelfish_configure '{hatch[0]}', '{hatch[1]}' and again",
                )
                why = None
        if why:
            unsupported[type_name] = Deviation(f"the server has no {type_name} type ({why})", create)
    return tuple(dict.fromkeys(settings)), escape_hatch, unsupported


def probe_single_user(admin: Any, name: str) -> Deviation | None:
    """``ALTER DATABASE ... SET SINGLE_USER WITH ROLLBACK IMMEDIATE`` (and back) on the probe database."""
    alter = f"ALTER DATABASE {quote(name)} SET SINGLE_USER WITH ROLLBACK IMMEDIATE"
    why = refusal(admin, alter)
    if why is None:
        execute(admin, f"ALTER DATABASE {quote(name)} SET MULTI_USER")
        return None
    return Deviation(
        f"ALTER DATABASE is refused ({why}): scratch databases are dropped after KILLing the sessions left in them",
        alter,
    )


def probe_sysname_base(conn: Any) -> Deviation | None:
    """Whether sysname's system_type_id is nvarchar's, as the catalog reader's alias resolution expects."""
    sql = (
        "SELECT bt.name FROM sys.types AS ut JOIN sys.types AS bt ON bt.user_type_id = ut.system_type_id "
        "WHERE ut.name = N'sysname'"
    )
    rows = query(conn, sql)
    if rows == [("nvarchar",)]:
        return None
    return Deviation(
        f"sysname does not resolve to nvarchar in sys.types (its system_type_id names {rows}): the catalog "
        "reports a sysname column as sysname",
        sql,
    )


def probe_rowversion_nullable(conn: Any) -> Deviation | None:
    """Whether a rowversion column declared without NULL is NOT NULL, as on SQL Server."""
    create = "CREATE TABLE [probe_rowversion_null] (c rowversion)"
    execute(conn, create)
    sql = "SELECT is_nullable FROM sys.columns WHERE object_id = OBJECT_ID(N'probe_rowversion_null')"
    rows = query(conn, sql)
    if rows == [(False,)]:
        return None
    return Deviation(f"a rowversion column is nullable (sys.columns.is_nullable: {rows})", f"{create}; {sql}")


def probe_lone_surrogate(conn: Any) -> Deviation | None:
    """Whether nvarchar holds an unpaired UTF-16 surrogate, built as the test builds it (binary to nvarchar and back).

    When it does not, ``NCHAR(0xD800)`` is tried too, and its answer added to the reason: evidence
    that the server cannot hold the code unit at all, not only that the cast reads bytes otherwise.
    """
    sql = f"SELECT CONVERT(varbinary(6), CAST({LONE_SURROGATE_UTF16LE} AS nvarchar(3)))"
    try:
        stored = query(conn, sql)[0][0]
    except pymssql.Error as exc:
        why = server_message(exc)
    else:
        if stored == bytes.fromhex(LONE_SURROGATE_UTF16LE[2:]):
            return None
        why = f"the units came back as 0x{stored.hex().upper()}"
    also = "SELECT CONVERT(varbinary(2), NCHAR(0xD800))"
    try:
        value = query(conn, also)[0][0]
        other = "NULL" if value is None else f"0x{value.hex().upper()}"
    except pymssql.Error as exc:
        other = server_message(exc)
    return Deviation(f"nvarchar cannot hold an unpaired UTF-16 surrogate ({why}; {also}: {other})", sql)


def probe_fraction_100ns(conn: Any) -> Deviation | None:
    """Whether datetime2(7), time(7) and datetimeoffset(7) keep the 7th fraction digit (100 ns)."""
    clock = DATETIME2_100NS.split(" ")[1]
    sql = (
        f"SELECT DATEPART(nanosecond, CAST('{DATETIME2_100NS}' AS datetime2(7))), "
        f"DATEPART(nanosecond, CAST('{clock}' AS time(7))), "
        f"DATEPART(nanosecond, CAST('{DATETIME2_100NS} +05:30' AS datetimeoffset(7)))"
    )
    got = tuple(query(conn, sql)[0])
    if got == (123_456_700,) * 3:
        return None
    return Deviation(
        f"datetime2(7), time(7) and datetimeoffset(7) do not keep 100 ns: the nanoseconds of '...{clock}' "
        f"came back as {', '.join(map(str, got))}, not 123456700",
        sql,
    )


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
    sqlglot = dev_package("sqlglot")
    exp = sqlglot.exp
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
