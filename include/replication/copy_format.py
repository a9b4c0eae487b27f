"""Rows to PostgreSQL ``COPY ... FROM STDIN`` text format.

Text format rather than CSV: NULL is the unambiguous ``\\N`` and an empty string is just an empty
field, so NULL and '' never collide; only backslash, tab, newline and carriage return need
escaping. See https://www.postgresql.org/docs/16/sql-copy.html ("Text Format").
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal

NULL = "\\N"

# Order matters: backslash first, or the escapes added after it would be doubled.
_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))


class NulCharacterError(ValueError):
    """A text value holds U+0000, which PostgreSQL text cannot store."""


def encode_text(value: str) -> str:
    """Escape one string for a COPY text field (NUL is the caller's decision: see ``encode_row``)."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        for raw, escaped in _ESCAPES:
            value = value.replace(raw, escaped)
    return value


def _encode_bytes(value: bytes) -> str:
    # bytea hex input, with its backslash escaped for the COPY text layer
    return "\\\\x" + value.hex()


def _encode_datetime(value: dt.datetime) -> str:
    return value.isoformat(sep=" ")


def _encode_bool(value: bool) -> str:
    return "t" if value else "f"


# Exact types first: bool is a subclass of int and must not print as 1/0.
_ENCODERS: dict[type, Callable[[object], str]] = {
    str: encode_text,
    int: str,
    bool: _encode_bool,
    float: repr,  # shortest repr that round-trips exactly
    Decimal: str,
    dt.datetime: _encode_datetime,
    dt.date: dt.date.isoformat,
    dt.time: dt.time.isoformat,
    bytes: _encode_bytes,
    bytearray: _encode_bytes,
    memoryview: lambda v: _encode_bytes(bytes(v)),
    uuid.UUID: str,
}


def encode_value(value: object) -> str:
    """Encode one non-NULL value as a COPY text field."""
    encoder = _ENCODERS.get(type(value))
    if encoder is None:
        for base, candidate in _ENCODERS.items():
            if isinstance(value, base):
                encoder = candidate
                break
        else:
            raise TypeError(f"cannot encode {type(value).__name__} value for COPY: {value!r}")
    return encoder(value)


def encode_row(row: Iterable[object]) -> str:
    """Encode one row as a COPY text line, newline included. NUL characters raise ``NulCharacterError``."""
    fields = [NULL if value is None else encode_value(value) for value in row]
    line = "\t".join(fields)
    if "\x00" in line:
        raise NulCharacterError("text value contains U+0000")
    return line + "\n"
