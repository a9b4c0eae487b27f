"""Row batches to COPY bytes: the NUL policy and invalid Unicode name table, column and row key."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from include.replication.copy.encoder import BadValueError, RowEncoder
from include.replication.settings import NulPolicy


def encoder(policy: NulPolicy = NulPolicy.STRIP) -> RowEncoder:
    return RowEncoder("dbo.Posts", ["Id", "Title", "Body"], key=["Id"], nul_policy=policy)


def test_strip_removes_nul_and_counts_per_column():
    """nul_policy=strip removes U+0000 and counts every removal per column."""
    enc = encoder()
    data = enc.encode([(1, "a\x00b", "\x00\x00"), (2, "ok", None)])
    assert data == b"1\tab\t\n2\tok\t\\N\n"
    assert dict(enc.nul_stripped) == {"Title": 1, "Body": 2}
    assert enc.rows == 2


def test_fail_names_table_column_and_key():
    """nul_policy=fail stops with the table, the column and the row's key."""
    with pytest.raises(BadValueError, match=r"dbo\.Posts\.Body: NUL character \(U\+0000\) at Id=7"):
        encoder(NulPolicy.FAIL).encode([(7, "fine", "bad\x00")])


def test_lone_surrogate_names_table_column_and_key():
    """Text that is not valid Unicode (a lone UTF-16 surrogate) is named, not silently replaced."""
    with pytest.raises(BadValueError, match=r"dbo\.Posts\.Title: text is not valid Unicode .* at Id=3"):
        encoder().encode([(3, "half \ud800 pair", "")])


def test_strip_in_a_large_batch_touches_only_the_row_with_nul():
    """A NUL sends its batch down the row-by-row path; the other rows come out as the fast path makes them."""
    rows = [(i, f"row {i}\t", "\\" if i % 2 else None) for i in range(1, 1001)]
    clean = encoder().encode(rows)
    rows[500] = (501, "row\x00 501\t", "\x00")
    enc = encoder()
    data = enc.encode(rows)
    assert data == clean.replace(b"501\trow 501\\t\t\\\\\n", b"501\trow 501\\t\t\n")
    assert dict(enc.nul_stripped) == {"Title": 1, "Body": 1}
    assert enc.rows == 1000


def test_fail_finds_nul_anywhere_in_a_batch():
    with pytest.raises(BadValueError, match=r"dbo\.Posts\.Title: NUL character .* at Id=999"):
        encoder(NulPolicy.FAIL).encode([(i, "ok", "") for i in range(1, 999)] + [(999, "x\x00", "")])


def test_null_empty_and_escapes_in_a_batch():
    """NULL is \\N, '' an empty field, a literal backslash-N text is escaped: all three stay distinct."""
    data = encoder().encode([(1, None, ""), (2, "\\N", "a\r\nb")])
    assert data == b"1\t\\N\t\n2\t\\\\N\ta\\r\\nb\n"


# --- rows as mssql-python hands them: its Row objects, not tuples -----------------------------------
# (id, value as the driver returns it for the SELECT of mssql/source.py, COPY field). The types
# converted on the server (datetime2, time, datetimeoffset as text; money as decimal) arrive as
# such; tests/mssql/test_read_drivers.py compares both drivers' bytes on a real server.
ROW_VALUES = [
    ("NULL", None, "\\N"),
    ("empty string", "", ""),
    ("escapes", "a\\b\tc\nd\re", "a\\\\b\\tc\\nd\\re"),
    ("beyond the BMP", "a\U0001f600b", "a\U0001f600b"),
    ("bit", True, "t"),
    ("tinyint 255", 255, "255"),
    ("bigint min", -(2**63), str(-(2**63))),
    ("decimal(38,10)", Decimal("-1234567890123456789012345678.0123456789"), "-1234567890123456789012345678.0123456789"),
    ("money as decimal(19,4)", Decimal("922337203685477.5807"), "922337203685477.5807"),
    ("real widened", 1.100000023841858, "1.100000023841858"),
    ("float", 1e308, "1e+308"),
    ("datetime .997", dt.datetime(2010, 7, 31, 23, 59, 59, 997000), "2010-07-31 23:59:59.997000"),
    ("datetime whole second", dt.datetime(1753, 1, 1), "1753-01-01 00:00:00"),
    ("datetime2 as text", "9999-12-31 23:59:59.999999", "9999-12-31 23:59:59.999999"),
    ("date", dt.date(1, 1, 1), "0001-01-01"),
    ("varbinary", b"\x00\xff", "\\\\x00ff"),
    ("uniqueidentifier", uuid.UUID("6f9619ff-8b86-d011-b42d-00c04fc964ff"), "6f9619ff-8b86-d011-b42d-00c04fc964ff"),
]


def mssql_python_rows(rows: list[tuple]) -> list:
    """``rows`` as mssql-python's ``Row`` objects (the class its cursor builds)."""
    from mssql_python import Row

    return [Row(list(row), {"Id": 0, "v": 1}) for row in rows]


@pytest.mark.parametrize(("value", "field"), [(v, f) for _, v, f in ROW_VALUES], ids=[i for i, _, _ in ROW_VALUES])
def test_mssql_python_rows_encode_as_tuples_do(value: object, field: str):
    """The same bytes from a Row as from the tuple pymssql hands over."""
    enc = RowEncoder("dbo.T", ["Id", "v"], key=["Id"], nul_policy=NulPolicy.STRIP)
    as_row = enc.encode(mssql_python_rows([(1, value)]))
    assert as_row == f"1\t{field}\n".encode()
    assert as_row == RowEncoder("dbo.T", ["Id", "v"], key=["Id"], nul_policy=NulPolicy.STRIP).encode([(1, value)])


def test_mssql_python_rows_with_nul_strip_and_fail_name_the_key():
    """NUL in a Row: stripped and counted, or the failure names table, column and key."""
    enc = RowEncoder("dbo.T", ["Id", "v"], key=["Id"], nul_policy=NulPolicy.STRIP)
    assert enc.encode(mssql_python_rows([(1, "a\x00b"), (2, "c")])) == b"1\tab\n2\tc\n"
    assert dict(enc.nul_stripped) == {"v": 1}
    with pytest.raises(BadValueError, match=r"dbo\.T\.v: NUL character \(U\+0000\) at Id=9"):
        RowEncoder("dbo.T", ["Id", "v"], key=["Id"], nul_policy=NulPolicy.FAIL).encode(mssql_python_rows([(9, "\x00")]))
    with pytest.raises(BadValueError, match=r"dbo\.T\.v: text is not valid Unicode .* at Id=4"):
        enc.encode(mssql_python_rows([(4, "half \ud800 pair")]))
