"""The SQL Server target: the T-SQL it sends, checked without a server, and COPY text read back.

SQL Server cannot run here: statements are captured by a stand-in pymssql connection, rendered by
pymssql's own parameter substitution and parsed as T-SQL by sqlglot. ``tests/mssql/test_target.py``
runs the same target against a real TDS server.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from include.replication.copy.text_format import decode_rows, encode_rows
from include.replication.models import Index, SourceColumn, SourceTable, TableName, TargetColumn
from include.replication.mssql.capabilities import SQL_SERVER_2019
from include.replication.mssql.target import SqlServerTarget, create_table_sql, object_name, staging_name
from include.replication.mssql.types import SQLSERVER_TYPES, keep_table, kept_type
from tests.conftest import dev_package
from tests.unit.mssql_fakes import FakeConnection, wire_sql

USERS = TableName("dbo", "Users")
COLUMNS = (
    TargetColumn("Id", "int", False, identity=True),
    TargetColumn("DisplayName", "nvarchar(40)", False),
    TargetColumn("CreationDate", "datetime", False),
    TargetColumn("Stamp", "datetime2(7)", True),
    TargetColumn("Offset", "datetimeoffset(7)", True),
    TargetColumn("Amount", "money", True),
    TargetColumn("Ratio", "float", True),
    TargetColumn("Photo", "varbinary(max)", True),
    TargetColumn("Guid", "uniqueidentifier", True),
    TargetColumn("Active", "bit", True),
)


def sent(conn: FakeConnection) -> list[str]:
    """Every statement as pymssql would send it."""
    return [wire_sql(sql, params) for sql, params in conn.executed]


def test_every_statement_of_a_staged_load_parses_as_tsql():
    """Staging table, COPY text in as INSERTs with ids, key, index, swap, identity: each statement is T-SQL."""
    conn = FakeConnection(lambda sql, params: [(417,)] if sql.startswith("SELECT MAX(") else [])
    target = SqlServerTarget(conn, SQL_SERVER_2019)
    staging = target.staging_table(USERS)
    rows = [
        (5, "Ünïcode 😀\t\\", dt.datetime(2010, 7, 31, 23, 59, 59, 997000), "2010-07-31 23:59:59.1234567",
         "2010-07-31 23:59:59.1234567 +05:30", Decimal("12.3456"), 0.1, b"\x00\xff", uuid.UUID(int=7), True),
        (417, "x", dt.datetime(2008, 1, 1), None, None, None, None, None, None, False),
    ]  # fmt: skip
    with target.transaction():
        target.create_table(staging, COLUMNS, replace=True)
        assert target.copy_in(staging, COLUMNS, [encode_rows(rows)], fresh=True) == 2
        target.add_primary_key(staging, ["Id"])
        target.create_indexes(staging, [Index("IX_Users_Name", ("DisplayName",), False)])
        target.swap(staging, USERS, columns=COLUMNS, indexes=[], has_key=True)
    statements = sent(conn)
    assert statements[0] == "BEGIN TRANSACTION" and statements[-1] == "COMMIT TRANSACTION"
    assert "SET IDENTITY_INSERT [dbo].[Users__staging] ON" in statements
    insert = next(s for s in statements if s.startswith("INSERT INTO"))
    assert "(5, N'Ünïcode 😀\t\\', CONVERT(datetime, N'2010-07-31 23:59:59.997', 121)" in insert
    assert "CONVERT(datetime2(7), N'2010-07-31 23:59:59.1234567', 121)" in insert
    assert "CONVERT(money, N'12.3456')" in insert and "CONVERT(float, N'0.1')" in insert
    assert "0x00ff" in insert.lower() and ", 1)" in insert  # bytes as a binary literal, bit as 1
    assert "EXEC sp_rename N'dbo.Users__staging', N'Users', 'OBJECT'" in statements
    assert "DBCC CHECKIDENT ('dbo.Users', RESEED, 417) WITH NO_INFOMSGS" in statements
    sqlglot = dev_package("sqlglot")
    for statement in statements:
        if not statement.startswith(("DBCC", "SET IDENTITY_INSERT")):  # sqlglot knows neither
            sqlglot.parse_one(statement, read="tsql")


def test_no_positive_id_means_the_next_id_is_one():
    """max(Id) of -1 reseeds to 0 (next 1); an empty table keeps its seed and is not reseeded."""
    conn = FakeConnection(lambda sql, params: [(-1,)])
    SqlServerTarget(conn, SQL_SERVER_2019).align_identity(USERS, COLUMNS)
    assert sent(conn)[-1] == "DBCC CHECKIDENT ('dbo.Users', RESEED, 0) WITH NO_INFOMSGS"
    empty = FakeConnection(lambda sql, params: [(None,)])
    SqlServerTarget(empty, SQL_SERVER_2019).align_identity(USERS, COLUMNS)
    assert not any("DBCC" in s for s in sent(empty))


def test_a_failure_rolls_back_and_says_what_failed():
    conn = FakeConnection()
    with pytest.raises(RuntimeError, match="boom"), SqlServerTarget(conn, SQL_SERVER_2019).transaction():
        raise RuntimeError("boom")
    assert sent(conn) == ["BEGIN TRANSACTION", "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION"]


def test_create_table_keeps_types_identity_and_nullability():
    sql = create_table_sql(TableName("dbo", "odd ]name"), COLUMNS[:3])
    assert sql == (
        "CREATE TABLE [dbo].[odd ]]name] ([Id] int IDENTITY(1,1) NOT NULL, [DisplayName] nvarchar(40) NOT NULL, "
        "[CreationDate] datetime NOT NULL)"
    )
    dev_package("sqlglot").parse_one(sql, read="tsql")


@pytest.mark.parametrize(
    ("table", "expected"),
    [(TableName("dbo", "Users"), "dbo.Users"), (TableName("dbo", "odd name"), "dbo.[odd name]"),
     (TableName("sales data", "T.1"), "[sales data].[T.1]")],
)  # fmt: skip
def test_object_names_are_bracketed_only_where_needed(table, expected):
    """Babelfish finds no object under a bracketed name in sp_rename and DBCC; SQL Server takes both."""
    assert object_name(table) == expected


def test_long_staging_names_stay_within_128_characters():
    name = "x" * 125
    assert len(staging_name(name)) <= 128 and staging_name(name).endswith("__staging")
    assert staging_name(name) != staging_name("x" * 124 + "y")


KEPT = {
    ("nvarchar", -1): "nvarchar(max)", ("nvarchar", 40): "nvarchar(40)", ("varbinary", -1): "varbinary(max)",
    ("char", 10): "char(10)", ("decimal", (18, 4)): "decimal(18,4)", ("float", 53): "float", ("float", 24): "real",
    ("datetime2", 3): "datetime2(3)", ("datetimeoffset", 7): "datetimeoffset(7)", ("time", 0): "time(0)",
    ("rowversion", None): "binary(8)", ("timestamp", None): "binary(8)", ("money", None): "money",
    ("geography", None): "geography", ("uniqueidentifier", None): "uniqueidentifier",
}  # fmt: skip


@pytest.mark.parametrize(("given", "expected"), KEPT.items(), ids=[f"{k[0]}{k[1] or ''}" for k in KEPT])
def test_a_sql_server_target_keeps_the_type(given, expected):
    kind, shape = given
    column = {
        "float": SourceColumn("c", kind, True, precision=shape),
        "decimal": SourceColumn("c", kind, True, precision=18, scale=4),
    }.get(kind) or SourceColumn(
        "c", kind, True,
        char_length=shape if kind in ("nvarchar", "varbinary", "char") else None,
        scale=shape if kind in ("datetime2", "datetimeoffset", "time") else None,
    )  # fmt: skip
    assert kept_type(column) == expected


def test_every_type_has_a_load_for_a_sql_server_target():
    """Each row of the type table says how its value is written back into SQL Server."""
    table = SourceTable("dbo", "T", tuple(SourceColumn(f"c_{k}", k, True) for k in SQLSERVER_TYPES))
    assert len(keep_table(table)) == len(SQLSERVER_TYPES)
    for kind, rule in SQLSERVER_TYPES.items():
        assert "%s" in rule.load.template, kind


def test_copy_text_reads_back_to_the_same_fields_across_chunk_edges():
    """COPY text, cut anywhere into chunks, decodes to the fields it encoded: NULL, '', escapes, NUL."""
    rows = [(1, "a\tb\\c\nd\re", None, ""), (2, "\\N", "x\x00y", " ")]
    data = encode_rows(rows)
    for cut in range(1, len(data)):
        assert list(decode_rows([data[:cut], data[cut:]])) == [
            ["1", "a\tb\\c\nd\re", None, ""],
            ["2", "\\N", "x\x00y", " "],
        ]


def test_copy_text_cut_inside_its_last_line_is_an_error():
    with pytest.raises(ValueError, match="ends inside a line"):
        list(decode_rows([b"1\tx\n2\ty"]))
