"""COPY text encoding edge cases: what a naive copy gets wrong."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from include.replication.copy.text_format import (
    NulCharacterError,
    encode_fields,
    encode_row,
    encode_rows,
    encode_text,
    encode_value,
)

TEXT_CASES = [
    pytest.param("", "", id="empty-string-is-not-null"),
    pytest.param("plain", "plain", id="plain"),
    pytest.param("a\\b", "a\\\\b", id="backslash"),
    pytest.param("\\N", "\\\\N", id="literal-backslash-N-is-not-null"),
    pytest.param("a\tb", "a\\tb", id="tab"),
    pytest.param("a\nb", "a\\nb", id="lf"),
    pytest.param("a\rb", "a\\rb", id="cr"),
    pytest.param("a\r\nb", "a\\r\\nb", id="crlf"),
    pytest.param("trailing  ", "trailing  ", id="trailing-spaces-kept"),
    pytest.param("\\\t", "\\\\\\t", id="backslash-then-tab"),
    pytest.param("café 数据 😀 𝔘", "café 数据 😀 𝔘", id="non-ascii-and-non-bmp"),
]


@pytest.mark.parametrize(("value", "encoded"), TEXT_CASES)
def test_encode_text(value, encoded):
    """Only backslash, tab, LF and CR are escaped; everything else passes through."""
    assert encode_text(value) == encoded


VALUE_CASES = [
    pytest.param(True, "t", id="bool-true"),
    pytest.param(False, "f", id="bool-false-not-zero"),
    pytest.param(0, "0", id="int-zero"),
    pytest.param(-2147483648, "-2147483648", id="int-min"),
    pytest.param(2**63 - 1, "9223372036854775807", id="bigint-max"),
    pytest.param(0.1, "0.1", id="float-round-trip"),
    pytest.param(Decimal("123.4500"), "123.4500", id="decimal-keeps-scale"),
    pytest.param(dt.datetime(1753, 1, 1), "1753-01-01 00:00:00", id="datetime-min-sqlserver"),
    pytest.param(dt.datetime(9999, 12, 31, 23, 59, 59, 997000), "9999-12-31 23:59:59.997000", id="datetime-max"),
    pytest.param(dt.date(1, 1, 1), "0001-01-01", id="date-min"),
    pytest.param(dt.date(9999, 12, 31), "9999-12-31", id="date-max"),
    pytest.param(dt.time(23, 59, 59, 999999), "23:59:59.999999", id="time"),
    pytest.param(b"\x00\xff\\", "\\\\x00ff5c", id="bytes-hex"),
    pytest.param(uuid.UUID("6f9619ff-8b86-d011-b42d-00c04fc964ff"), "6f9619ff-8b86-d011-b42d-00c04fc964ff", id="uuid"),
]


@pytest.mark.parametrize(("value", "encoded"), VALUE_CASES)
def test_encode_value(value, encoded):
    """Each Python type a driver returns has one exact COPY text form."""
    assert encode_value(value) == encoded


def test_encode_row_null_vs_empty():
    """NULL is \\N and an empty string is an empty field, so the two never collide."""
    assert encode_row((1, None, "", "x")) == "1\t\\N\t\tx\n"


def test_encode_row_rejects_nul():
    """U+0000 cannot be stored in PostgreSQL text: the encoder refuses rather than corrupting."""
    with pytest.raises(NulCharacterError):
        encode_row((1, "a\x00b"))


def test_encode_value_unknown_type_names_it():
    """An unsupported Python type fails with its name."""
    with pytest.raises(TypeError, match="object"):
        encode_value(object())


class _Text(str):
    pass


class _Count(int):
    pass


FAST_PATH_CASES = [
    pytest.param(True, "t", id="bool-is-not-int"),
    pytest.param(False, "f", id="bool-false-is-not-zero"),
    pytest.param(7, "7", id="int"),
    pytest.param(None, "\\N", id="null"),
    pytest.param("", "", id="empty-string-is-not-null"),
    pytest.param("a\\b\tc\nd\re", "a\\\\b\\tc\\nd\\re", id="backslash-tab-lf-cr"),
    pytest.param("\\t", "\\\\t", id="backslash-before-t-is-not-a-tab"),
    pytest.param("😀 𝔘\r\n", "😀 𝔘\\r\\n", id="non-bmp-with-crlf"),
    pytest.param(dt.datetime(2008, 7, 31, 21, 42, 52), "2008-07-31 21:42:52", id="datetime-without-microseconds"),
    pytest.param(dt.datetime(2010, 1, 2, 3, 4, 5, 667000), "2010-01-02 03:04:05.667000", id="datetime-with-micro"),
    pytest.param(
        dt.datetime(2010, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        "2010-01-02 03:04:05-05:00",
        id="datetime-with-offset",
    ),
    pytest.param(Decimal("-0.0100"), "-0.0100", id="decimal-keeps-scale"),
    pytest.param(Decimal("1E+3"), "1E+3", id="decimal-exponent"),
    pytest.param(1e-308, "1e-308", id="float"),
    pytest.param(b"\x00\\\xff", "\\\\x005cff", id="bytes-hex"),
    pytest.param(bytearray(b"\x01"), "\\\\x01", id="bytearray-hex"),
    pytest.param(uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001", id="uuid"),
    pytest.param(_Text("a\tb"), "a\\tb", id="str-subclass-still-escaped"),
    pytest.param(_Count(3), "3", id="int-subclass"),
]


@pytest.mark.parametrize(("value", "encoded"), FAST_PATH_CASES)
def test_encode_fields_fast_path_matches_encode_value(value, encoded):
    """The exact-type fast path gives each value the same text as ``encode_value`` (NULL aside)."""
    assert encode_fields([value]) == [encoded]
    if value is not None:
        assert encode_value(value) == encoded


def test_encode_rows_is_utf8_of_encode_row_per_row():
    """A batch is the UTF-8 of its rows' lines, one after the other, each ending in a newline."""
    rows = [(1, None, "", "café\t😀"), (True, b"\\", dt.date(1, 1, 1), Decimal("0.5")), ()]
    assert encode_rows(rows) == "".join(encode_row(r) for r in rows).encode("utf-8")
    assert encode_rows(rows) == "1\t\\N\t\tcafé\\t😀\nt\t\\\\x5c\t0001-01-01\t0.5\n\n".encode()


def test_encode_rows_empty_batch():
    assert encode_rows([]) == b""


def test_encode_rows_lets_nul_through_for_the_caller():
    """``encode_rows`` leaves NUL to its caller, which finds it as a 0 byte (``RowEncoder``)."""
    assert b"\x00" in encode_rows([(1, "a\x00b")])
