"""COPY text encoding edge cases: what a naive copy gets wrong."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from include.replication.copy_format import NulCharacterError, encode_row, encode_text, encode_value

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
