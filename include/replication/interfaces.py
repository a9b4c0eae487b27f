"""The small interface every source engine implements, and how one is chosen.

Two engines: SQL Server via pymssql (``source_mssql``) and PostgreSQL via pg8000
(``source_postgres``, which also verifies the PostgreSQL target). Each module holds its catalog
SQL in ``sql/<engine>/*.sql`` and quotes every identifier through its one ``quote`` function.

Verification contract (see ``verification.py``): for each row, both sides compute the same
canonical text from the *target* column types, hash it with MD5 over UTF-8, and sum the first
7 bytes of the hash (a non-negative 56-bit integer) per key bucket ``floor(key / width)``. Equal
(count, sum) per bucket on both sides means equal content; a differing bucket is drilled into
row by row with ``row_hashes``.

Canonical text of a row: for each column in order, ``N;`` for NULL, else
``V<octets>:<text>;`` where ``<octets>`` is the UTF-8 byte length of ``<text>`` and ``<text>`` is:

- integers: decimal digits with optional ``-``; boolean/bit: ``t`` or ``f``
- numeric(p,s) and money: plain decimal with exactly ``s`` fraction digits (no exponent)
- real / double precision: the IEEE 754 bits of the value widened to double, as 16 lowercase hex
  digits, big-endian (PostgreSQL ``encode(float8send(x::float8), 'hex')``, T-SQL
  ``CONVERT(binary(8), CONVERT(float, x))``). Widening real to double is exact and COPY carries
  floats in shortest round-trip form, so equal bits are the only honest test; decimal text is not
  portable between engines (15-digit rounding differs in the last digit for some values)
- date ``YYYY-MM-DD``; time ``HH:MM:SS.ffffff``; timestamp ``YYYY-MM-DD HH:MM:SS.ffffff`` (always six
  fraction digits); timestamptz: the UTC instant in that form followed by ``+00``
- text types: the text itself (trailing spaces kept, except ``char(n)`` padding, which PostgreSQL's
  ``::text`` drops; NUL characters removed when the NUL policy is
  ``strip``, so the checksum compares what was promised)
- bytea: lowercase hex without prefix; uuid: lowercase ``8-4-4-4-12``; xml/json: their text
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from include.replication.models import SourceTable, TargetColumn

Sink = Callable[[bytes], None]


@dataclass(frozen=True)
class KeyRange:
    """Rows whose (single, integer) key is in ``[low, high)``; ``None`` leaves that side open."""

    column: str
    low: int | None = None
    high: int | None = None


@dataclass(frozen=True)
class ReadResult:
    """What one read produced: rows written to the sink, and NUL characters stripped per column."""

    rows: int
    nul_stripped: dict[str, int]


@dataclass(frozen=True)
class BucketSum:
    """Per key bucket: row count and the sum of 56-bit row hashes."""

    rows: int
    hash_sum: int


class SourceDialect(Protocol):
    """What the replication engine needs from a source engine."""

    name: str  # "mssql" | "postgres"
    default_schema: str  # "dbo" | "public"

    def quote(self, name: str) -> str:
        """Quote one identifier for this engine."""

    def fetch_tables(self, conn: Any, schema: str) -> list[SourceTable]:
        """Read every base table of ``schema`` with columns, primary key, foreign keys, indexes."""

    def count_rows(self, conn: Any, table: SourceTable, key_range: KeyRange | None = None) -> int:
        """``count(*)`` of the table, or of a key range."""

    def stream_rows(
        self,
        conn: Any,
        table: SourceTable,
        columns: Sequence[TargetColumn],
        sink: Sink,
        *,
        nul_policy: str,
        key_range: KeyRange | None = None,
    ) -> ReadResult:
        """Write the table's rows (or a key range) to ``sink`` as COPY text-format lines."""

    def bucket_checksums(
        self,
        conn: Any,
        table: SourceTable,
        columns: Sequence[TargetColumn],
        *,
        key: str | None,
        width: int,
        nul_policy: str,
        key_range: KeyRange | None = None,
    ) -> dict[int, BucketSum]:
        """Per bucket ``floor(key / width)``: rows and hash sum (see the verification contract).

        ``floor`` in integer arithmetic on every engine: ``key / width`` for ``key >= 0``, else
        ``-((-key - 1) / width) - 1``. With ``key=None`` (no single integer key) the whole table
        is bucket 0.
        """

    def row_hashes(
        self,
        conn: Any,
        table: SourceTable,
        columns: Sequence[TargetColumn],
        *,
        key: str,
        low: int,
        high: int,
        nul_policy: str,
    ) -> dict[Any, str]:
        """``{key value: md5 hex}`` for keys in ``[low, high)``: to name the rows that differ."""

    def key_distribution(self, conn: Any, table: SourceTable, key: str) -> tuple[int, list[tuple[int, float]]]:
        """(row estimate, [(key value, cumulative rows)]) for the partition planner, from statistics."""

    def key_bounds(self, conn: Any, table: SourceTable, key: str) -> tuple[int | None, int | None]:
        """``(min(key), max(key))``, both None for an empty table."""
