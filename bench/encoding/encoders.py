"""The candidate encoders, each turning a batch of driver tuples into the bytes of one COPY stream.

Every candidate applies the same NUL policy as ``RowEncoder`` (strip, counting per column) and
produces input PostgreSQL loads back value for value; ``run.py`` checks that before timing.

* ``ours``: ``include.replication.copy.encoder.RowEncoder``, COPY text format.
* ``csv``: the standard library's C ``csv.writer`` into ``io.StringIO``, for ``COPY ... (FORMAT csv)``.
  PostgreSQL CSV tells NULL from '' only by quoting: an unquoted empty field is NULL, a quoted one
  is ''. Python 3.11's writer cannot say that by itself (``QUOTE_MINIMAL`` writes both unquoted,
  ``QUOTE_NONNUMERIC`` quotes None as ``""``; ``QUOTE_NOTNULL`` arrives in 3.12), so every value
  goes through one Python pass: None becomes ``_CSV_NULL``, an object the writer takes for a
  number (left unquoted) whose text is empty; bytes become bytea hex. Strings are always quoted,
  so ``\\N`` or ``\\.`` in data are plain text. What it cannot express: NULL in a one-column row
  (the writer quotes a lone empty field, which PostgreSQL reads as '').
* ``psycopg``: psycopg 3's C ``format_row_text`` through ``TextFormatter.write_row``, with a
  ``Transformer`` and no server. It refuses NUL (``DataError``, leaving its buffer as it was), so
  a refused row is cleaned with ``RowEncoder``'s policy and written again. Without a connection
  its bytea dumper falls back to libpq's ``PQescapeBytea``, whose output assumes
  ``standard_conforming_strings=off`` and loads back wrong, so bytes get a hex dumper here (a
  Python call per bytes value: only the ``Mixed`` table has any).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from decimal import Decimal

from include.replication.copy.encoder import RowEncoder


class _CsvNull:
    """Written by ``csv.QUOTE_NONNUMERIC`` unquoted (it looks like a number) and empty: PostgreSQL's CSV NULL."""

    __slots__ = ()

    def __float__(self) -> float:
        return 0.0

    def __str__(self) -> str:
        return ""


_CSV_NULL = _CsvNull()
# Types whose str() is already valid PostgreSQL CSV input (bool prints True/False, which boolean accepts).
_CSV_AS_IS = frozenset({str, int, float, bool, Decimal, dt.datetime})


class COPYDialect(csv.Dialect):
    """PostgreSQL ``COPY ... (FORMAT csv)`` defaults: comma, double quote doubled, LF rows."""

    delimiter = ","
    quotechar = '"'
    doublequote = True
    lineterminator = "\n"
    quoting = csv.QUOTE_NONNUMERIC
    skipinitialspace = False
    strict = True


def _csv_value(value: object) -> object:
    if value is None:
        return _CSV_NULL
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()  # bytea hex input; backslash is not special in CSV
    return value


class CsvEncoder:
    """Batches to ``COPY ... (FORMAT csv)`` bytes with the stdlib writer; NUL handled as ``RowEncoder`` does."""

    copy_options = " (FORMAT csv)"

    def __init__(self, table: str, columns: Sequence[str], *, key: Sequence[str], nul_policy: str) -> None:
        self.policy = RowEncoder(table, columns, key=key, nul_policy=nul_policy)

    def encode(self, rows: Sequence[Sequence[object]]) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, COPYDialect)
        as_is = _CSV_AS_IS
        writer.writerows(
            [_CSV_NULL if v is None else v if type(v) in as_is else _csv_value(v) for v in row] for row in rows
        )
        text = out.getvalue()
        if "\x00" in text:
            cleaned = [self.policy._without_nul(row) if has_nul(row) else row for row in rows]
            return self.encode(cleaned)
        self.policy.rows += len(rows)
        return text.encode("utf-8")


def has_nul(row: Sequence[object]) -> bool:
    """Whether a string in ``row`` holds U+0000."""
    return any(isinstance(v, str) and "\x00" in v for v in row)


def _hex_bytes_dumper() -> type:
    from psycopg.adapt import Dumper
    from psycopg.postgres import types

    class HexBytesDumper(Dumper):
        oid = types["bytea"].oid

        def dump(self, obj: bytes | bytearray | memoryview) -> bytes:
            return b"\\x" + bytes(obj).hex().encode()

    return HexBytesDumper


class PsycopgEncoder:
    """Batches to COPY text bytes with psycopg 3's (C) row formatter, without a server."""

    copy_options = ""

    def __init__(self, table: str, columns: Sequence[str], *, key: Sequence[str], nul_policy: str) -> None:
        from psycopg import DataError, adapters
        from psycopg._copy_base import TextFormatter  # the formatter Copy.write_row uses
        from psycopg.adapt import AdaptersMap, Transformer

        context = AdaptersMap(adapters)
        for cls in (bytes, bytearray, memoryview):
            context.register_dumper(cls, _hex_bytes_dumper())
        self._refused = DataError
        self.formatter = TextFormatter(Transformer(context))
        self.policy = RowEncoder(table, columns, key=key, nul_policy=nul_policy)

    def encode(self, rows: Sequence[Sequence[object]]) -> bytes:
        write_row = self.formatter.write_row
        chunks = []
        for row in rows:
            try:
                data = write_row(row)
            except self._refused:
                data = write_row(self.policy._without_nul(row))
            if data:
                chunks.append(data)
        chunks.append(self.formatter.end())
        self.policy.rows += len(rows)
        return b"".join(chunks)


ENCODERS = {"ours": RowEncoder, "csv": CsvEncoder, "psycopg": PsycopgEncoder}
