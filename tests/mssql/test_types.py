"""Every SQL Server type of PRODUCT §5 copied from a real SQL Server into PostgreSQL, value for value.

Runs only with a real SQL Server (``REPLICATION_TEST_MSSQL_URL``, see README.md here); skipped otherwise.

One scratch table holds a column per §5 type with edge values (range ends, NULL, declared maximum
lengths, datetime's 1753 and .997, datetime2(7)'s extremes, non-BMP text, 0x00 bytes, ...). It is
read through the project's catalog reader, mapped, and copied once with
``replicate_table(verify="checksums")`` into a fresh PostgreSQL database; each column's test then
compares what PostgreSQL holds with what the documented mapping promises and, for types pymssql
reads natively, with the value pymssql itself returns. The types the project converts on the
server because pymssql mishandles them (datetime2, time, datetimeoffset, money, smallmoney, xml,
sql_variant and the CLR types) are compared with the documented result of their literal instead.
Should the whole-table copy fail, each column is copied again on its own, so the failure is
pinned to its column and the other columns are still checked.

On a server that is not SQL Server (Babelfish), the session's probes (``mssql_helpers.probe_traits``)
decide what the table can hold: a type the server lacks is left out of the table, its tests
skipped naming the probe; a value the server cannot hold is built otherwise where it can be
(``adapt``), each adaptation saying why. Every other column and value is exercised as on SQL Server.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import pytest

from include.replication.models import SourceTable, TableName, TargetColumn
from include.replication.mssql.dialect import qualified, quote
from include.replication.mssql.types import SQLSERVER_TYPES, map_table
from include.replication.postgres.dialect import quote as pg_quote
from include.replication.report import TableReport
from include.stackoverflow.database import connect
from tests.mssql.mssql_helpers import (
    MssqlServer,
    ServerTraits,
    copy_table,
    execute,
    pg_database,
    pg_execute,
    pg_rows,
    query,
    source_table,
    unique_name,
    xml_unsupported,
)

UTC = dt.UTC
D = Decimal


def same(value: Any) -> Any:
    return value


def as_date(value: Any) -> dt.date:
    """pymssql returns date as datetime.date under TDS 7.3+, as ISO text under older TDS versions."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


@dataclass(frozen=True)
class TypeCase:
    """One column of the scratch table: the §5 type(s) it exercises, four values, and what PostgreSQL must hold.

    Rows 1-4 take ``values`` (T-SQL expressions); row 5 is NULL in every column that allows it.
    ``expected`` is rows 1-4 as read back from PostgreSQL (None: pymssql's own values are the
    reference); ``native`` turns a pymssql value into the PostgreSQL one (None: not compared,
    the project reads the type through a server-side conversion).
    """

    column: str
    declared: str  # the T-SQL type
    kinds: tuple[str, ...]  # the SQLSERVER_TYPES entries it exercises
    catalog_type: str  # what the catalog reports (aliases resolve: sysname is nvarchar, rowversion is timestamp)
    pg_type: str  # the §5 target type, as the DDL writes it
    values: tuple[str, str, str, str] | None  # None: the server generates the value (rowversion)
    expected: tuple[Any, Any, Any, Any] | None = None
    native: Callable[[Any], Any] | None = same
    target_sql: str = "{col}"  # how PostgreSQL reads the column back
    padded: bool = False  # char(n): padding is not significant (SQL Server pads UTF-16 units, PostgreSQL characters)
    approx: bool = False  # floats: ``expected`` is the literal, exact equality is with pymssql's value
    values_without_nul: tuple[str, str, str, str] | None = None  # the same bytes, never passed through text
    catalog_nullable: bool | None = None  # None: nullable exactly when the test gives values (not rowversion)


CASES: tuple[TypeCase, ...] = (
    TypeCase("c_bit", "bit", ("bit",), "bit", "boolean", ("0", "1", "1", "0"), (False, True, True, False)),
    TypeCase("c_tinyint", "tinyint", ("tinyint",), "tinyint", "smallint", ("0", "255", "1", "128"), (0, 255, 1, 128)),
    TypeCase("c_smallint", "smallint", ("smallint",), "smallint", "smallint", ("-32768", "32767", "0", "-1"),
             (-32768, 32767, 0, -1)),
    TypeCase("c_int", "int", ("int",), "int", "integer", ("-2147483648", "2147483647", "0", "-1"),
             (-(2**31), 2**31 - 1, 0, -1)),
    TypeCase("c_bigint", "bigint", ("bigint",), "bigint", "bigint",
             ("-9223372036854775808", "9223372036854775807", "0", "-1"), (-(2**63), 2**63 - 1, 0, -1)),
    TypeCase("c_decimal", "decimal(38,10)", ("decimal",), "decimal", "numeric(38,10)",
             ("-9999999999999999999999999999.9999999999", "9999999999999999999999999999.9999999999",
              "0.0000000001", "-0.5"),
             (D("-9999999999999999999999999999.9999999999"), D("9999999999999999999999999999.9999999999"),
              D("0.0000000001"), D("-0.5"))),
    TypeCase("c_numeric", "numeric(18,0)", ("numeric",), "numeric", "numeric(18,0)",
             ("-999999999999999999", "999999999999999999", "0", "42"),
             (D("-999999999999999999"), D("999999999999999999"), D(0), D(42))),
    TypeCase("c_money", "money", ("money",), "money", "numeric(19,4)",
             ("-922337203685477.5808", "922337203685477.5807", "0.0001", "-0.0001"),
             (D("-922337203685477.5808"), D("922337203685477.5807"), D("0.0001"), D("-0.0001")), native=None),
    TypeCase("c_smallmoney", "smallmoney", ("smallmoney",), "smallmoney", "numeric(10,4)",
             ("-214748.3648", "214748.3647", "0.0001", "-0.0001"),
             (D("-214748.3648"), D("214748.3647"), D("0.0001"), D("-0.0001")), native=None),
    TypeCase("c_float", "float", ("float",), "float", "double precision", ("-1.79E+308", "1.79E+308", "2.23E-308", "0.1"),
             (-1.79e308, 1.79e308, 2.23e-308, 0.1), approx=True),
    # float(n <= 24) is stored as real: the catalog says real, the target is real
    TypeCase("c_float24", "float(24)", ("float",), "real", "real", ("-3.40E+38", "3.40E+38", "1.18E-38", "0.1"),
             (-3.4e38, 3.4e38, 1.18e-38, 0.1), target_sql="{col}::float8", approx=True),
    TypeCase("c_real", "real", ("real",), "real", "real", ("-3.40E+38", "3.40E+38", "1.18E-38", "0.1"),
             (-3.4e38, 3.4e38, 1.18e-38, 0.1), target_sql="{col}::float8", approx=True),
    TypeCase("c_date", "date", ("date",), "date", "date", ("'0001-01-01'", "'9999-12-31'", "'2000-02-29'", "'2010-07-31'"),
             (dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(2000, 2, 29), dt.date(2010, 7, 31)), native=as_date),
    # time(7) and datetime2(7) keep microseconds, truncated (never rounded into the next day or year 10000)
    TypeCase("c_time7", "time(7)", ("time",), "time", "time(6)",
             ("'00:00:00'", "'23:59:59.9999999'", "'12:34:56.1234567'", "'00:00:00.0000009'"),
             (dt.time(0, 0), dt.time(23, 59, 59, 999999), dt.time(12, 34, 56, 123456), dt.time(0, 0)), native=None),
    TypeCase("c_time0", "time(0)", ("time",), "time", "time(0)", ("'00:00:00'", "'23:59:59'", "'12:34:56'", "'01:02:03'"),
             (dt.time(0, 0), dt.time(23, 59, 59), dt.time(12, 34, 56), dt.time(1, 2, 3)), native=None),
    TypeCase("c_datetime", "datetime", ("datetime",), "datetime", "timestamp(3)",
             ("'1753-01-01T00:00:00.000'", "'9999-12-31T23:59:59.997'", "'2010-07-31T23:59:59.003'",
              "'2008-07-31T21:42:52.667'"),
             (dt.datetime(1753, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59, 997000),
              dt.datetime(2010, 7, 31, 23, 59, 59, 3000), dt.datetime(2008, 7, 31, 21, 42, 52, 667000))),
    TypeCase("c_smalldatetime", "smalldatetime", ("smalldatetime",), "smalldatetime", "timestamp(0)",
             ("'1900-01-01T00:00:00'", "'2079-06-06T23:59:00'", "'2010-07-31T12:30:00'", "'2000-02-29T00:01:00'"),
             (dt.datetime(1900, 1, 1), dt.datetime(2079, 6, 6, 23, 59), dt.datetime(2010, 7, 31, 12, 30),
              dt.datetime(2000, 2, 29, 0, 1))),
    TypeCase("c_datetime2", "datetime2(7)", ("datetime2",), "datetime2", "timestamp(6)",
             ("'0001-01-01T00:00:00.0000000'", "'9999-12-31T23:59:59.9999999'", "'2010-07-31T23:59:59.1234567'",
              "'1969-12-31T23:59:59.9999995'"),
             (dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
              dt.datetime(2010, 7, 31, 23, 59, 59, 123456), dt.datetime(1969, 12, 31, 23, 59, 59, 999999)), native=None),
    TypeCase("c_datetime2_0", "datetime2(0)", ("datetime2",), "datetime2", "timestamp(0)",
             ("'0001-01-01T00:00:00'", "'9999-12-31T23:59:59'", "'2010-07-31T12:00:01'", "'1970-01-01T00:00:00'"),
             (dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59), dt.datetime(2010, 7, 31, 12, 0, 1),
              dt.datetime(1970, 1, 1)), native=None),
    # datetimeoffset lands as the instant: the UTC time is kept, the original offset is not
    TypeCase("c_datetimeoffset", "datetimeoffset(7)", ("datetimeoffset",), "datetimeoffset", "timestamptz",
             ("'0001-01-01T00:00:00.0000000-14:00'", "'9999-12-31T23:59:59.9999999+14:00'",
              "'2010-07-31T23:59:59.1234567+05:30'", "'2010-07-31T00:00:00-07:00'"),
             (dt.datetime(1, 1, 1, 14, tzinfo=UTC), dt.datetime(9999, 12, 31, 9, 59, 59, 999999, tzinfo=UTC),
              dt.datetime(2010, 7, 31, 18, 29, 59, 123456, tzinfo=UTC), dt.datetime(2010, 7, 31, 7, tzinfo=UTC)),
             native=None),
    TypeCase("c_char", "char(10)", ("char",), "char", "char(10)", ("'a'", "REPLICATE('c', 10)", "'café'", "''"),
             ("a", "c" * 10, "café", ""), padded=True),
    TypeCase("c_nchar", "nchar(10)", ("nchar",), "nchar", "char(10)", ("N'a'", "REPLICATE(N'é', 10)", "N'ab😀'", "N''"),
             ("a", "é" * 10, "ab😀", ""), padded=True),
    TypeCase("c_varchar", "varchar(8000)", ("varchar",), "varchar", "varchar(8000)",
             ("''", "REPLICATE(CONVERT(varchar(max), 'v'), 8000)", "'café €'",
              "'a' + CHAR(9) + 'b' + CHAR(13) + CHAR(10) + 'c\\d'"),
             ("", "v" * 8000, "café €", "a\tb\r\nc\\d")),
    TypeCase("c_varchar_max", "varchar(max)", ("varchar",), "varchar", "text",
             ("''", "REPLICATE(CONVERT(varchar(max), 'x'), 100000)", "' trailing  '", "'\\N'"),
             ("", "x" * 100_000, " trailing  ", "\\N")),
    # nvarchar(4000) counts UTF-16 units: 3998 + a surrogate pair fill it, 3999 characters in PostgreSQL
    TypeCase("c_nvarchar", "nvarchar(4000)", ("nvarchar",), "nvarchar", "varchar(4000)",
             ("N''", "REPLICATE(N'é', 3998) + N'😀'", "N'日本語 🚀 𝔘'", "N'NULL'"),
             ("", "é" * 3998 + "😀", "日本語 🚀 𝔘", "NULL")),
    TypeCase("c_nvarchar_max", "nvarchar(max)", ("nvarchar",), "nvarchar", "text",
             ("N''", "REPLICATE(CONVERT(nvarchar(max), N'ab😀'), 25000)", "N'line1' + NCHAR(13) + NCHAR(10) + N'line2'",
              "N'   '"),
             ("", "ab😀" * 25_000, "line1\r\nline2", "   ")),
    TypeCase("c_sysname", "sysname", ("sysname",), "nvarchar", "varchar(128)",
             ("N'dbo'", "REPLICATE(N's', 128)", "N'Ünïcode'", "N''"), ("dbo", "s" * 128, "Ünïcode", "")),
    TypeCase("c_text", "text", ("text",), "text", "text", ("''", "REPLICATE(CONVERT(varchar(max), 't'), 70000)", "'café'", "'x'"),
             ("", "t" * 70_000, "café", "x")),
    TypeCase("c_ntext", "ntext", ("ntext",), "ntext", "text",
             ("N''", "REPLICATE(CONVERT(nvarchar(max), N'n😀'), 20000)", "N'ünï'", "N'x'"),
             ("", "n😀" * 20_000, "ünï", "x")),
    TypeCase("c_binary", "binary(8)", ("binary",), "binary", "bytea", ("0x00", "0xFFFFFFFFFFFFFFFF", "0x00FF5C0A", "0x"),
             (bytes(8), b"\xff" * 8, b"\x00\xff\\\n" + bytes(4), bytes(8))),
    TypeCase("c_varbinary", "varbinary(max)", ("varbinary",), "varbinary", "bytea",
             ("0x00", "CONVERT(varbinary(max), REPLICATE(CONVERT(varchar(max), 0x00FF), 50000))", "0x5C4E", "0x"),
             (b"\x00", b"\x00\xff" * 50_000, b"\\N", b""),
             values_without_nul=("0x00", "0x" + "00FF" * 50_000, "0x5C4E", "0x")),
    TypeCase("c_image", "image", ("image",), "image", "bytea",
             ("0x00", "0x0102", "CONVERT(varbinary(max), REPLICATE(CONVERT(varchar(max), 0xFE), 70000))", "0x"),
             (b"\x00", b"\x01\x02", b"\xfe" * 70_000, b"")),
    # rowversion is a synonym of timestamp (the catalog's name); one per table, never NULL, set by the server
    TypeCase("c_rowversion", "rowversion", ("rowversion", "timestamp"), "timestamp", "bytea", None),
    TypeCase("c_uniqueidentifier", "uniqueidentifier", ("uniqueidentifier",), "uniqueidentifier", "uuid",
             ("'00000000-0000-0000-0000-000000000000'", "'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF'",
              "'6F9619FF-8B86-D011-B42D-00C04FC964FF'", "'01234567-89AB-CDEF-0123-456789ABCDEF'"),
             (uuid.UUID(int=0), uuid.UUID(int=2**128 - 1), uuid.UUID("6f9619ff-8b86-d011-b42d-00c04fc964ff"),
              uuid.UUID("01234567-89ab-cdef-0123-456789abcdef"))),
    TypeCase("c_xml", "xml", ("xml",), "xml", "xml", ("N'<a/>'", "N'<a b=\"1\">x &amp; y</a>'", "N'<t>😀 ü</t>'", "N'text only'"),
             ("<a/>", '<a b="1">x &amp; y</a>', "<t>😀 ü</t>", "text only"), native=None, target_sql="{col}::text"),
    TypeCase("c_sql_variant", "sql_variant", ("sql_variant",), "sql_variant", "text",
             ("CAST(42 AS sql_variant)", "CAST(N'héllo 😀' AS sql_variant)",
              "CAST(CAST(1.50 AS decimal(5,2)) AS sql_variant)", "CAST(CAST(9223372036854775807 AS bigint) AS sql_variant)"),
             ("42", "héllo 😀", "1.50", "9223372036854775807"), native=None),
    TypeCase("c_hierarchyid", "hierarchyid", ("hierarchyid",), "hierarchyid", "text",
             ("hierarchyid::GetRoot()", "hierarchyid::Parse('/1/3/')", "hierarchyid::Parse('/1/3.5/')",
              "hierarchyid::Parse('/-1/')"),
             ("/", "/1/3/", "/1/3.5/", "/-1/"), native=None),
    TypeCase("c_geography", "geography", ("geography",), "geography", "text",
             ("geography::Point(47.5, -122.25, 4326)",
              "geography::STGeomFromText('LINESTRING(-122.5 47.5, -122.25 47.75)', 4326)",
              "geography::STGeomFromText('POINT(0 0)', 4326)", "geography::Point(-90, 180, 4326)"),
             ("POINT (-122.25 47.5)", "LINESTRING (-122.5 47.5, -122.25 47.75)", "POINT (0 0)", "POINT (180 -90)"),
             native=None),
    TypeCase("c_geometry", "geometry", ("geometry",), "geometry", "text",
             ("geometry::STGeomFromText('POINT (1 2)', 0)",
              "geometry::STGeomFromText('POLYGON ((0 0, 2 0, 2 2, 0 2, 0 0))', 0)",
              "geometry::STGeomFromText('LINESTRING (0 0, 1.5 -1.5)', 0)", "geometry::STGeomFromText('POINT (0 0)', 0)"),
             ("POINT (1 2)", "POLYGON ((0 0, 2 0, 2 2, 0 2, 0 0))", "LINESTRING (0 0, 1.5 -1.5)", "POINT (0 0)"),
             native=None),
)  # fmt: skip
ROWS = 5  # rows 1-4 from the cases' values, row 5 NULL
FRACTION_100NS = re.compile(r"(\.\d{6})\d")  # a literal's 7th fraction digit
PRECISE_TYPES = ("time", "datetime2", "datetimeoffset")  # the types with 100 ns


@dataclass(frozen=True)
class Adapted:
    """The cases this server's table holds: the cases as this server can hold them, and why others differ."""

    cases: tuple[TypeCase, ...]  # created, some with adapted values
    not_created: dict[str, str]  # column -> why the table has no such column (the server lacks the type)
    adapted: dict[str, str]  # column -> how and why its values or catalog expectations differ from the case's


def adapt(cases: tuple[TypeCase, ...], traits: ServerTraits) -> Adapted:
    """``cases`` as a server with ``traits`` can hold them; on SQL Server, all of them unchanged.

    - a type the server lacks (``traits.unsupported_types``): the column is left out of the table;
    - 100 ns the server cannot keep (``traits.fraction_100ns``): the 7-digit literals are cut to 6
      digits, which is the truncation ``expected`` already holds, so the expectation is unchanged;
      only SQL Server checks that the project truncates the 7th digit;
    - text that cannot hold U+0000 (``traits.nul``): bytes built through varchar come from a binary
      literal of the same bytes (``values_without_nul``);
    - catalog answers the server gives otherwise (``traits.sysname_base``, ``traits.rowversion_nullable``):
      the catalog expectation follows the probe (the mapped PostgreSQL type is the same).
    """
    kept, not_created, adapted = [], {}, {}
    for case in cases:
        missing = [traits.unsupported_types[k] for k in case.kinds if k in traits.unsupported_types]
        if missing:
            not_created[case.column] = f"server deviation: {missing[0]}; the column is left out of the table"
            continue
        if traits.fraction_100ns and case.values and case.kinds[0] in PRECISE_TYPES and case.declared.endswith("(7)"):
            cut = tuple(FRACTION_100NS.sub(r"\1", v) for v in case.values)
            if cut != case.values:
                adapted[case.column] = f"7-digit fractions cut to 6, as server deviation: {traits.fraction_100ns}"
                case = replace(case, values=cut)
        if traits.nul and case.values_without_nul:
            adapted[case.column] = f"bytes written as a binary literal, as server deviation: {traits.nul}"
            case = replace(case, values=case.values_without_nul)
        if traits.sysname_base and case.declared == "sysname":
            adapted[case.column] = f"the catalog type is sysname, as server deviation: {traits.sysname_base}"
            case = replace(case, catalog_type="sysname")
        if traits.rowversion_nullable and "rowversion" in case.kinds:
            adapted[case.column] = f"the column is nullable, as server deviation: {traits.rowversion_nullable}"
            case = replace(case, catalog_nullable=True)
        kept.append(case)
    return Adapted(tuple(kept), not_created, adapted)


@dataclass(frozen=True)
class EveryTypeCopy:
    """The copied table: as the catalog read it, its mapped columns, the load's outcome and where each column landed.

    When the whole-table copy fails, each column is copied again alone (with Id, into schema
    ``col_<column>``), so the per-column tests still run and the failure is pinned to its column.
    """

    table: SourceTable
    columns: dict[str, TargetColumn]
    report: TableReport | None  # None: the whole-table copy failed
    whole_error: str | None
    source_name: str
    target_url: str
    schema_of: dict[str, str]  # column -> target schema holding its copy
    column_errors: dict[str, str]  # column -> why its own copy failed (only after a failed whole-table copy)
    left_out: dict[str, str]  # column -> why it was not copied at all
    adapted: Adapted  # what this server's table holds


def create_every_type_table(conn: Any, name: str, cases: tuple[TypeCase, ...] = CASES) -> None:
    """The scratch table: Id plus one column per case, rows 1-4 from the cases' values, row 5 NULL."""
    declarations = ", ".join(f"{quote(c.column)} {c.declared}" + ("" if c.values is None else " NULL") for c in cases)
    execute(conn, f"CREATE TABLE {qualified(TableName('dbo', name))} ([Id] int NOT NULL PRIMARY KEY, {declarations})")
    given = [c for c in cases if c.values is not None]
    rows = [f"({i + 1}, {', '.join(c.values[i] for c in given)})" for i in range(ROWS - 1)]
    rows.append(f"({ROWS}, {', '.join('NULL' for _ in given)})")
    columns = ", ".join(["[Id]", *(quote(c.column) for c in given)])
    execute(conn, f"INSERT INTO {qualified(TableName('dbo', name))} ({columns}) VALUES {', '.join(rows)}")


@pytest.fixture(scope="module")
def copied(mssql_server: MssqlServer, mssql_scratch: str, pg_server_url: str) -> Iterator[EveryTypeCopy]:
    """The every-type table, created on SQL Server and copied once with verify=checksums into a fresh database."""
    name = unique_name("every_type")
    adapted = adapt(CASES, mssql_server.traits)
    conn = mssql_server.connect(mssql_scratch)
    try:
        create_every_type_table(conn, name, adapted.cases)
        table = source_table(conn, name)
        columns = map_table(table)
        with pg_database(pg_server_url, "t_mssql_types") as target_url:
            left_out = {}
            why = xml_unsupported(target_url)
            if why:
                left_out["c_xml"] = (
                    f"the target PostgreSQL cannot store xml ({why}); the xml column was left out of the copy. "
                    "Point REPLICATION_TEST_POSTGRES_URL at a PostgreSQL built with libxml (e.g. the postgres:16 "
                    "image) to test it"
                )
            kept = [c.name for c in columns if c.name not in left_out]
            report, whole_error, schema_of, column_errors = None, None, dict.fromkeys(kept, "public"), {}
            try:
                report = copy_table(conn, only(table, kept), target_url, columns=only(columns, kept))
            except Exception as exc:  # reported by the tests, column by column
                whole_error = f"{type(exc).__name__}: {exc}"
                for column in kept[1:]:  # each column alone, beside Id, to find the one that breaks the copy
                    schema_of[column] = f"col_{column}"
                    pg_execute(target_url, f"CREATE SCHEMA {pg_quote(schema_of[column])}")
                    try:
                        copy_table(conn, only(table, ["Id", column]), target_url, columns=only(columns, ["Id", column]),
                                   target_schema=schema_of[column])  # fmt: skip
                    except Exception as exc:
                        column_errors[column] = f"{type(exc).__name__}: {exc}"
            yield EveryTypeCopy(table, {c.name: c for c in columns}, report, whole_error, name, target_url,
                                schema_of, column_errors, left_out, adapted)  # fmt: skip
    finally:
        conn.close()


def only(what: Any, names: list[str]) -> Any:
    """``what`` (a SourceTable, or a tuple of TargetColumns) restricted to the columns ``names``."""
    if isinstance(what, SourceTable):
        return replace(what, columns=tuple(c for c in what.columns if c.name in names))
    return tuple(c for c in what if c.name in names)


def created(copied: EveryTypeCopy, case: TypeCase) -> TypeCase:
    """``case`` as the server's table holds it; skips when the server has no such column (a probed deviation)."""
    if case.column in copied.adapted.not_created:
        pytest.skip(copied.adapted.not_created[case.column])
    return next(c for c in copied.adapted.cases if c.column == case.column)


def copy_of(copied: EveryTypeCopy, case: TypeCase) -> str:
    """The qualified target table holding ``case``'s column; skips or fails when there is none."""
    if case.column in copied.left_out:
        pytest.skip(copied.left_out[case.column])
    if case.column in copied.column_errors:
        pytest.fail(f"copying {case.column} alone failed: {copied.column_errors[case.column]}", pytrace=False)
    return f"{pg_quote(copied.schema_of[case.column])}.{pg_quote(copied.source_name)}"


def test_every_sqlserver_type_has_a_case():
    """The table covers every entry of SQLSERVER_TYPES: a type added to the mapping without a case here fails."""
    covered = {kind for case in CASES for kind in case.kinds}
    assert covered == set(SQLSERVER_TYPES)


def test_every_type_copies_and_verifies_with_checksums(copied: EveryTypeCopy):
    """The load succeeds, both sides count 5 rows and every checksum bucket matches; nothing is stripped."""
    assert copied.report is not None, (
        f"the copy failed: {copied.whole_error}\ncolumns that fail alone: {copied.column_errors or 'none'}"
    )
    verification = copied.report.verification
    assert verification.ok, verification.describe()
    assert (verification.mode, verification.checksum_match) == ("checksums", True)
    assert (verification.source_rows, verification.target_rows, copied.report.stats.rows) == (ROWS, ROWS, ROWS)
    assert copied.report.stats.nul_stripped == {}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.column)
def test_catalog_and_target_type(copied: EveryTypeCopy, case: TypeCase):
    """The catalog reader reports the declared type, the mapping gives the §5 type, and the target column has it."""
    case = created(copied, case)
    adapted = copied.adapted.adapted.get(case.column, "not adapted")
    column = next(c for c in copied.table.columns if c.name == case.column)
    assert column.data_type == case.catalog_type, adapted
    nullable = case.values is not None if case.catalog_nullable is None else case.catalog_nullable
    assert column.nullable is nullable, adapted
    assert copied.columns[case.column].data_type == case.pg_type
    if case.column in copied.left_out:
        return  # the mapping is checked; the target has no such column
    target = copy_of(copied, case)
    conn = connect(copied.target_url)
    try:
        live = conn.run(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = :t::regclass AND attname = :c",
            t=target,
            c=case.column,
        )[0][0]
        conn.run(f"CREATE TEMP TABLE type_probe (c {case.pg_type})")  # how PostgreSQL spells the §5 type
        spelled = conn.run("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                           "WHERE attrelid = 'type_probe'::regclass AND attname = 'c'")[0][0]  # fmt: skip
    finally:
        conn.close()
    assert live == spelled


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.column)
def test_values_round_trip(copied: EveryTypeCopy, mssql_server: MssqlServer, mssql_scratch: str, case: TypeCase):
    """PostgreSQL holds each value as the documented mapping says, and as pymssql reads it where it reads it natively."""
    case = created(copied, case)
    adapted = copied.adapted.adapted.get(case.column, "not adapted")
    table = copy_of(copied, case)
    read = case.target_sql.format(col=pg_quote(case.column))
    target = [r[0] for r in pg_rows(copied.target_url, f'SELECT {read} FROM {table} ORDER BY "Id"')]
    unpad = (lambda v: v if v is None else v.rstrip(" ")) if case.padded else same
    assert len(target) == ROWS
    if case.values is None:  # rowversion: eight bytes the server chose, in every row
        assert all(isinstance(v, bytes) and len(v) == 8 for v in target), target
    else:
        assert target[ROWS - 1] is None
    if case.expected is not None:
        got = [unpad(v) for v in target[: ROWS - 1]]
        assert got == (pytest.approx(list(case.expected), rel=1e-6) if case.approx else list(case.expected)), adapted
    if case.native is not None:
        conn = mssql_server.connect(mssql_scratch)
        try:
            source = [
                r[0]
                for r in query(
                    conn,
                    f"SELECT {quote(case.column)} FROM {qualified(TableName('dbo', copied.source_name))} ORDER BY [Id]",
                )
            ]
        finally:
            conn.close()
        assert [None if v is None else unpad(case.native(v)) for v in source] == [unpad(v) for v in target], adapted
