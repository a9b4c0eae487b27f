"""Reading SQL Server rows: SELECT text, pymssql value shapes through the COPY encoding, NUL policy, connecting.

SQL Server cannot run here: rows come from a stand-in connection, as the Python values pymssql
2.4.6 builds for each type (``convert_db_value`` in ``_mssql.pyx``) or, for the types read as
text, as the strings the server-side conversion produces.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from decimal import Decimal

import pymssql
import pytest

from include.replication.copy.encoder import BadValueError
from include.replication.models import KeyRange, SourceColumn, SourceTable
from include.replication.mssql import dialect as mssql_dialect
from include.replication.mssql.connect import connect_mssql
from include.replication.mssql.dialect import TSQL, quote
from include.replication.mssql.source import SqlServerSource, select_sql
from include.replication.mssql.types import map_table
from include.replication.settings import NulPolicy
from tests.unit.mssql_fakes import FakeConnection

ID = SourceColumn("Id", "int", False, identity=True)


def microseconds_sql(col: str) -> str:
    return f"'.' + RIGHT('00000' + CONVERT(varchar(6), DATEPART(microsecond, {col})), 6)"


def timestamp_sql(col: str) -> str:
    """Seconds by style 120, six fraction digits always (style 121 drops a zero fraction on Babelfish)."""
    return f"CONVERT(varchar(19), {col}, 120) + {microseconds_sql(col)}"


def time_sql(col: str) -> str:
    return f"CONVERT(varchar(8), {col}, 108) + {microseconds_sql(col)}"


def utc_sql(col: str) -> str:
    return f"CONVERT(datetime2(7), SWITCHOFFSET({col}, '+00:00'))"


def table_of(*columns: SourceColumn, key: tuple[str, ...] = ("Id",)) -> SourceTable:
    return SourceTable("dbo", "T", (ID, *columns), primary_key=key)


def read(table: SourceTable, rows, *, nul_policy=NulPolicy.STRIP, key_range: KeyRange | None = None):
    """Stream ``rows`` (as pymssql returns them) through the source; return (COPY text, ReadResult, connection)."""
    conn, chunks = FakeConnection(rows), []
    result = SqlServerSource(conn).stream_rows(
        table, map_table(table), chunks.append, nul_policy=nul_policy, key_range=key_range
    )
    return b"".join(chunks).decode("utf-8"), result, conn


# (1/300 s ticks, milliseconds) as FreeTDS's tds_datecrack turns a datetime's ticks into them
SQL_SERVER_MS = [(t, ((t % 300) * 1000 + 150) // 300) for t in (1, 2, 150, 299)]
# (id, column, pymssql value, COPY field). Values are what pymssql hands over for the SELECT the
# dialect sends: native objects, or text where the column is converted on the server.
VALUE_SHAPES = [
    ("datetime .997", SourceColumn("v", "datetime", True), dt.datetime(2010, 7, 31, 23, 59, 59, 997000),
     "2010-07-31 23:59:59.997000"),
    ("datetime .003", SourceColumn("v", "datetime", True), dt.datetime(2008, 1, 1, 0, 0, 0, 3000),
     "2008-01-01 00:00:00.003000"),
    ("smalldatetime", SourceColumn("v", "smalldatetime", True), dt.datetime(2010, 1, 1, 12, 30), "2010-01-01 12:30:00"),
    ("datetime2(7) max as text", SourceColumn("v", "datetime2", True, scale=7), "9999-12-31 23:59:59.999999",
     "9999-12-31 23:59:59.999999"),
    ("time(7) as text", SourceColumn("v", "time", True, scale=7), "23:59:59.999999", "23:59:59.999999"),
    ("datetimeoffset as UTC text", SourceColumn("v", "datetimeoffset", True, scale=7),
     "2010-01-01 06:30:00.123456+00", "2010-01-01 06:30:00.123456+00"),
    ("date", SourceColumn("v", "date", True), dt.date(1, 1, 1), "0001-01-01"),
    ("date as text under TDS 7.1", SourceColumn("v", "date", True), "2010-01-01", "2010-01-01"),
    ("uniqueidentifier", SourceColumn("v", "uniqueidentifier", True),
     uuid.UUID(bytes_le=bytes.fromhex("FF19966F868B11D0B42D00C04FC964FF")), "6f9619ff-8b86-d011-b42d-00c04fc964ff"),
    ("money as decimal(19,4)", SourceColumn("v", "money", True), Decimal("922337203685477.5807"),
     "922337203685477.5807"),
    ("smallmoney as decimal(10,4)", SourceColumn("v", "smallmoney", True), Decimal("-214748.3648"), "-214748.3648"),
    ("decimal keeps scale", SourceColumn("v", "decimal", True, precision=9, scale=2), Decimal("-0.50"), "-0.50"),
    ("decimal 38 digits", SourceColumn("v", "numeric", True, precision=38, scale=18),
     Decimal("12345678901234567890.123456789012345678"), "12345678901234567890.123456789012345678"),
    ("bit true", SourceColumn("v", "bit", True), True, "t"),
    ("bit false", SourceColumn("v", "bit", True), False, "f"),
    ("tinyint 255", SourceColumn("v", "tinyint", True), 255, "255"),
    ("bigint min", SourceColumn("v", "bigint", True), -9223372036854775808, "-9223372036854775808"),
    ("float", SourceColumn("v", "float", True, precision=53), 0.1, "0.1"),
    ("real widened to double", SourceColumn("v", "real", True, precision=24), 0.10000000149011612,
     "0.10000000149011612"),
    ("varbinary", SourceColumn("v", "varbinary", True, char_length=-1), b"\x00\xff\\", "\\\\x00ff5c"),
    ("rowversion", SourceColumn("v", "timestamp", False), b"\x00\x00\x00\x00\x00\x00\x07\xd1", "\\\\x00000000000007d1"),
    ("nvarchar empty", SourceColumn("v", "nvarchar", True, char_length=40), "", ""),
    ("nvarchar NULL", SourceColumn("v", "nvarchar", True, char_length=40), None, "\\N"),
    ("nvarchar escapes", SourceColumn("v", "nvarchar", True, char_length=-1), "a\tb\r\nc\\", "a\\tb\\r\\nc\\\\"),
    ("nvarchar non-BMP", SourceColumn("v", "nvarchar", True, char_length=40), "caf\u00e9 \U0001f600", "café 😀"),
    ("char padded", SourceColumn("v", "char", True, char_length=5), "ab   ", "ab   "),
    ("xml as nvarchar", SourceColumn("v", "xml", True), '<a b="1"/>', '<a b="1"/>'),
]  # fmt: skip


@pytest.mark.parametrize(("column", "value", "field"), [v[1:] for v in VALUE_SHAPES], ids=[v[0] for v in VALUE_SHAPES])
def test_pymssql_values_encode_to_copy_text(column, value, field):
    """Stand-in for SQL Server: each pymssql value shape becomes the COPY field PostgreSQL reads back exactly."""
    text, result, _ = read(table_of(column), [(7, value)])
    assert text == f"7\t{field}\n"
    assert result.rows == 1


@pytest.mark.parametrize(("ticks", "ms"), SQL_SERVER_MS, ids=lambda v: str(v))
def test_datetime_ticks_arrive_as_whole_milliseconds(ticks, ms):
    """Stand-in for SQL Server: FreeTDS rounds 1/300 s ticks as SQL Server displays them (.003, .007, .997)."""
    assert ms == round(ticks * 10 / 3)  # SQL Server's own display of a tick count
    text, _, _ = read(
        table_of(SourceColumn("v", "datetime", False)), [(1, dt.datetime(2010, 1, 1, 0, 0, 0, ms * 1000))]
    )
    assert text.endswith(f".{ms:03d}000\n")


def test_uniqueidentifier_is_in_display_order():
    """Stand-in for SQL Server: the wire bytes of 6F9619FF-8B86-D011-B42D-00C04FC964FF read as pymssql reads them."""
    wire = bytes.fromhex("FF19966F868B11D0B42D00C04FC964FF")  # first three groups little-endian on the wire
    assert str(uuid.UUID(bytes_le=wire)) == "6F9619FF-8B86-D011-B42D-00C04FC964FF".lower()
    assert str(uuid.UUID(bytes=wire)) != "6F9619FF-8B86-D011-B42D-00C04FC964FF".lower()


@pytest.mark.parametrize(
    ("column", "expression"),
    [
        (
            SourceColumn("v", "datetime2", True, scale=7),
            f"{timestamp_sql('[v]')} AS [v]",
        ),
        (SourceColumn("v", "time", True, scale=7), f"{time_sql('[v]')} AS [v]"),
        (
            SourceColumn("v", "datetimeoffset", True, scale=7),
            f"{timestamp_sql(utc_sql('[v]'))} + '+00' AS [v]",
        ),
        (SourceColumn("v", "money", True), "CONVERT(decimal(19,4), [v]) AS [v]"),
        (SourceColumn("v", "smallmoney", True), "CONVERT(decimal(10,4), [v]) AS [v]"),
        (SourceColumn("v", "xml", True), "CONVERT(nvarchar(max), [v]) AS [v]"),
        (SourceColumn("v", "hierarchyid", True), "[v].ToString() AS [v]"),
        (SourceColumn("v", "datetime", True), "[v]"),
        (SourceColumn("v", "uniqueidentifier", True), "[v]"),
    ],
    ids=lambda v: v.data_type if isinstance(v, SourceColumn) else None,
)
def test_types_pymssql_mishandles_are_converted_on_the_server(column, expression):
    """Stand-in for SQL Server: datetime2/time/datetimeoffset as truncated ISO text, money as decimal, CLR types as text."""
    sql, params = select_sql(table_of(column), map_table(table_of(column)))
    assert sql == f"SELECT [Id], {expression} FROM [dbo].[T] ORDER BY [Id]"
    assert params == {}


@pytest.mark.parametrize(
    ("key_range", "where", "params"),
    [
        (None, "", {}),
        (KeyRange("Id", 1, 500_001), " WHERE [Id] >= %(low)s AND [Id] < %(high)s", {"low": 1, "high": 500_001}),
        (KeyRange("Id", None, 10), " WHERE [Id] < %(high)s", {"high": 10}),
        (KeyRange("Id", -1, None), " WHERE [Id] >= %(low)s", {"low": -1}),
    ],
    ids=["whole", "range", "below", "from"],
)
def test_key_ranges_are_bound_parameters_in_key_order(key_range, where, params):
    """Stand-in for SQL Server: bounds travel as parameters, never in the text; rows come in key order."""
    table = table_of(SourceColumn("Name", "nvarchar", False, char_length=40))
    _, _, conn = read(table, [], key_range=key_range)
    assert conn.executed == [(f"SELECT [Id], [Name] FROM [dbo].[T]{where} ORDER BY [Id]", params or None)]


def test_table_without_key_is_read_unordered():
    """Stand-in for SQL Server: no primary key, no ORDER BY (a heap is streamed as it lies)."""
    table = table_of(SourceColumn("Name", "nvarchar", False, char_length=40), key=())
    assert select_sql(table, map_table(table))[0] == "SELECT [Id], [Name] FROM [dbo].[T]"


def test_rows_stream_in_batches(monkeypatch):
    """Stand-in for SQL Server: fetchmany in FETCH_ROWS batches, one sink call per batch, cursor closed."""
    monkeypatch.setattr(mssql_dialect, "FETCH_ROWS", 2)
    conn, chunks = FakeConnection([(i, f"n{i}") for i in range(5)]), []
    table = table_of(SourceColumn("Name", "nvarchar", False, char_length=40))
    result = SqlServerSource(conn).stream_rows(table, map_table(table), chunks.append, nul_policy=NulPolicy.STRIP)
    assert chunks == [b"0\tn0\n1\tn1\n", b"2\tn2\n3\tn3\n", b"4\tn4\n"]
    assert (result.rows, conn.fetch_sizes, conn.cursors[0].closed) == (5, [2, 2, 2, 2], True)


def test_nul_characters_are_stripped_and_counted_per_column():
    """Stand-in for SQL Server: policy strip removes U+0000 and counts each one against its column."""
    table = table_of(
        SourceColumn("A", "nvarchar", True, char_length=-1), SourceColumn("B", "varchar", True, char_length=9)
    )
    text, result, _ = read(table, [(1, "a\x00b\x00", "ok"), (2, None, "\x00"), (3, "", "")])
    assert text == "1\tab\tok\n2\t\\N\t\n3\t\t\n"
    assert result.nul_stripped == {"A": 2, "B": 1}


def test_nul_character_fails_naming_table_column_and_key():
    """Stand-in for SQL Server: policy fail stops at the first U+0000, naming table, column and Id."""
    table = table_of(SourceColumn("Body", "nvarchar", False, char_length=-1))
    with pytest.raises(BadValueError, match=r"dbo\.T\.Body: NUL character .* Id=42"):
        read(table, [(41, "fine"), (42, "bad\x00")], nul_policy=NulPolicy.FAIL)


@pytest.mark.parametrize(
    ("name", "quoted"),
    [("Users", "[Users]"), ("odd ]name", "[odd ]]name]"), ("select", "[select]"), ("100%sure", "[100%sure]"),
     ('with "quotes"', '[with "quotes"]'), ("Ünïcode", "[Ünïcode]")],
)  # fmt: skip
def test_quote_brackets_identifiers(name, quoted):
    assert quote(name) == quoted == TSQL.quote(name)


def test_quote_refuses_names_pymssql_would_rewrite():
    """pymssql substitutes %(name)s even inside brackets: such an identifier fails early and clearly."""
    with pytest.raises(ValueError, match="placeholder"):
        quote("a%(low)sb")


def test_connect_passes_app_name_timeout_and_tds_version_never_logging_the_password(monkeypatch, caplog):
    """Stand-in for SQL Server: pymssql.connect gets the settings; extras it does not take are named and dropped."""
    calls = []
    monkeypatch.setattr(pymssql, "connect", lambda **kwargs: calls.append(kwargs) or "connection")
    with caplog.at_level(logging.INFO, logger="include.replication.mssql.connect"):
        conn = connect_mssql(host="mssql", port=1433, user="reader", password="s3cr3t!", database="StackOverflow2010",
                             tds_version="7.4", sqlalchemy_scheme="mssql+pymssql")  # fmt: skip
    assert conn == "connection"
    assert calls == [dict(server="mssql", port="1433", user="reader", password="s3cr3t!", database="StackOverflow2010",
                          login_timeout=30, appname="stackoverflow-replication", charset="UTF-8", autocommit=True,
                          tds_version="7.4")]  # fmt: skip
    assert "sqlalchemy_scheme" in caplog.text and "mssql+pymssql" not in caplog.text
    assert "s3cr3t!" not in caplog.text


def test_connect_leaves_tds_version_to_freetds_unless_given(monkeypatch):
    calls = []
    monkeypatch.setattr(pymssql, "connect", lambda **kwargs: calls.append(kwargs))
    connect_mssql(host="h", port=1433, user="u", password="p", database="d", login_timeout="5")
    assert "tds_version" not in calls[0] and calls[0]["login_timeout"] == "5"


def test_connect_failure_names_the_server_not_the_password(monkeypatch):
    def refuse(**kwargs):
        raise pymssql.OperationalError("Adaptive Server is unavailable or does not exist")

    monkeypatch.setattr(pymssql, "connect", refuse)
    with pytest.raises(ConnectionError, match=r"mssql:1433 database 'StackOverflow2010' as 'reader'") as caught:
        connect_mssql(host="mssql", port=1433, user="reader", password="s3cr3t!", database="StackOverflow2010")
    assert "s3cr3t!" not in str(caught.value)
    assert isinstance(caught.value.__cause__, pymssql.OperationalError)


def test_undecodable_text_names_the_table_and_the_rows_it_sits_in():
    """Stand-in for pymssql, which decodes nvarchar strictly: an unpaired surrogate raises from fetchmany
    with no table or key. The dialect turns that into a BadValueError naming the table and the last good key."""
    rows = [(i, f"name {i}") for i in range(1, 1_501)]
    conn = FakeConnection(rows)
    batches = iter([rows[:1_000]])

    def fetchmany(size):
        batch = next(batches, None)
        if batch is None:
            raise UnicodeDecodeError("utf-16-le", b"\x00\xd8", 0, 2, "unexpected end of data")
        return batch

    table = table_of(SourceColumn("DisplayName", "nvarchar", True, char_length=40))
    original = conn.cursor

    def cursor():
        made = original()
        made.fetchmany = fetchmany
        return made

    conn.cursor = cursor
    with pytest.raises(BadValueError, match=r"dbo\.T: text that is not valid UTF-16 .* rows after Id=1000;"):
        SqlServerSource(conn).stream_rows(table, map_table(table), lambda data: None, nul_policy=NulPolicy.STRIP)
    assert conn.cursors[0].closed


@pytest.mark.parametrize("given", ["SET ANSI_NULLS ON", ["SET ANSI_NULLS ON", "SET ARITHABORT ON"]])
def test_own_conn_properties_keep_the_full_textsize(monkeypatch, given):
    """pymssql sends SET TEXTSIZE 2147483647 only without conn_properties; ours add it, or (max) text is cut."""
    calls = []
    monkeypatch.setattr(pymssql, "connect", lambda **kwargs: calls.append(kwargs))
    connect_mssql(host="h", port=1433, user="u", password="p", database="d", conn_properties=given)
    expected = [given] if isinstance(given, str) else given
    assert calls[0]["conn_properties"] == [*expected, "SET TEXTSIZE 2147483647"]
