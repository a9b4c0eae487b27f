"""Rows to PostgreSQL ``COPY ... FROM STDIN`` text format.

Text format rather than CSV: NULL is the unambiguous ``\\N`` and an empty string is just an empty
field, so NULL and '' never collide; only backslash, tab, newline and carriage return need
escaping. See https://www.postgresql.org/docs/16/sql-copy.html ("Text Format").
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal

NULL = "\\N"


class NulCharacterError(ValueError):
    """A text value holds U+0000, which PostgreSQL text cannot store."""


def encode_text(value: str) -> str:
    """Escape one string for a COPY text field (NUL is the caller's decision: see ``encode_row``)."""
    # Backslash first, or the escapes added after it would be doubled. Each character is looked
    # for before it is replaced: most text holds one or two of the four, and a replace that finds
    # nothing still scans (about 3 us instead of 4 to 6 per 1 KB post body: docs/bench/encoder.md).
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if "\t" in value:
        value = value.replace("\t", "\\t")
    if "\n" in value:
        value = value.replace("\n", "\\n")
    if "\r" in value:
        value = value.replace("\r", "\\r")
    return value


def _encode_bytes(value: bytes) -> str:
    # bytea hex input, with its backslash escaped for the COPY text layer
    return "\\\\x" + value.hex()


def _encode_datetime(value: dt.datetime) -> str:
    return value.isoformat(sep=" ")


def _encode_bool(value: bool) -> str:
    return "t" if value else "f"


# Types whose str() already is their COPY text (datetime's is isoformat(sep=" "), float's is
# repr): the fast path in encode_fields. Matched by exact type, so bool (an int) is not among them.
_STR_IS_TEXT = frozenset({int, float, Decimal, dt.datetime, dt.date, dt.time, uuid.UUID})

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


def encode_fields(row: Iterable[object]) -> list[str]:
    """Encode one row's values as COPY text fields, NULL as ``\\N`` (NUL characters pass: see ``encode_row``)."""
    # The hot loop of the rows path (pymssql hands tuples): dispatch on the exact type in order of
    # frequency, with no function call for None, int and the str() types. When every value went
    # through encode_value, that call and its dict lookup alone took a quarter of the time.
    return [
        NULL if v is None
        else str(v) if type(v) is int
        else encode_text(v) if type(v) is str
        else str(v) if type(v) in _STR_IS_TEXT
        else encode_value(v)  # bool, bytes, subclasses of the types above
        for v in row
    ]  # fmt: skip


def encode_row(row: Iterable[object]) -> str:
    """Encode one row as a COPY text line, newline included. NUL characters raise ``NulCharacterError``."""
    line = "\t".join(encode_fields(row))
    if "\x00" in line:
        raise NulCharacterError("text value contains U+0000")
    return line + "\n"


def encode_rows(rows: Iterable[Iterable[object]]) -> bytes:
    """Encode rows as UTF-8 COPY text, a newline after each. NUL characters pass: look for a 0 byte."""
    # Each line is encoded on its own: joining str first would widen every line to the widest
    # one's kind (one emoji makes the batch 4 bytes per character) before encoding it.
    lines = ["\t".join(encode_fields(row)).encode("utf-8") for row in rows]
    lines.append(b"")  # the join then ends the last line too, without copying the batch once more
    return b"\n".join(lines)


_UNESCAPE = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r", "b": "\b", "f": "\f", "v": "\v"}
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


def decode_field(field: str) -> str | None:
    """One COPY text field back to its value: ``\\N`` is NULL, backslash escapes are undone."""
    if field == NULL:
        return None
    if "\\" not in field:
        return field
    return _ESCAPED.sub(lambda m: _UNESCAPE.get(m.group(1), m.group(1)), field)


def decode_rows(chunks: Iterable[bytes]) -> Iterator[list[str | None]]:
    """COPY text (UTF-8, in chunks cut anywhere) back to rows of field values, for a target that is not PostgreSQL."""
    pending = b""
    for chunk in chunks:
        data = pending + chunk if pending else chunk
        lines = data.split(b"\n")
        pending = lines.pop()  # the rest of a line the next chunk finishes (b"" after a full line)
        for line in lines:
            yield [decode_field(f) for f in line.decode("utf-8").split("\t")]
    if pending:
        raise ValueError(f"COPY text ends inside a line ({len(pending)} bytes after the last newline)")
