"""Tables without text to COPY text column by column: mssql-python's Arrow batches through pyarrow's kernels.

A table of integers and dates spends most of its read in Python's row loop (``RowEncoder``: a
``str()`` per value), not in the driver: Votes at scale 0.1 reads in 1.72 s row by row over
mssql-python and in 0.48 s column by column, against freebcp's 0.60 s (ADR 0010). With text the
columnar form loses (Posts 5.28 s against 4.28 s: four replace passes over every string), so it is
used only where no column is text, and then it has nothing to escape and no NUL to look for.

Every field is the text ``RowEncoder`` writes for the same value, byte for byte: integers in
decimal, bit as ``t``/``f``, datetime as ``isoformat(sep=" ")`` (six fraction digits, none when
they are all zero), date as ISO, NULL as ``\\N``. tests/unit/test_mssql_columnar.py compares the
two on every type here; tests/mssql/test_read_drivers.py on a real server.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from include.replication.models import SourceColumn

# SQL Server types read as they are (types.py: no conversion on the server) whose Arrow form has a
# kernel that writes RowEncoder's text. Everything else (text, decimal, float, binary, uuid, and
# the types read as text) keeps the row path.
COLUMNAR_TYPES = frozenset({"bit", "tinyint", "smallint", "int", "bigint", "datetime", "smalldatetime", "date"})
ARROW_ROWS = 8_192  # rows per Arrow batch: mssql-python's default; about 0.35 MB of Votes text
ALL_ZERO_FRACTION = r"\.000000$"  # Python's isoformat writes no fraction when the microseconds are 0
NULL = "\\N"


def fits(columns: Sequence[SourceColumn]) -> bool:
    """Whether every column read is of a type this module encodes (and so none is text)."""
    return bool(columns) and all(c.data_type.lower() in COLUMNAR_TYPES for c in columns)


def encode_batch(batch: Any) -> bytes:
    """One Arrow record batch as COPY text lines (UTF-8, a newline after each)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.large_string()

    def field(column: Any) -> Any:
        kind = column.type
        if pa.types.is_integer(kind):
            out = pc.cast(column, text)
        elif pa.types.is_boolean(kind):
            out = pc.if_else(column, pa.scalar("t", text), pa.scalar("f", text))
        elif pa.types.is_timestamp(kind) and kind.tz is None:
            out = pc.cast(pc.cast(column, pa.timestamp("us")), text)  # always six digits, then as Python
            out = pc.replace_substring_regex(out, ALL_ZERO_FRACTION, "")
        elif pa.types.is_date32(kind):
            out = pc.cast(column, text)
        else:
            raise TypeError(f"no columnar COPY text for Arrow type {kind}")
        return pc.fill_null(out, pa.scalar(NULL, text)) if out.null_count else out

    fields = [field(column) for column in batch.columns]
    lines = pc.binary_join_element_wise(*fields, pa.scalar("\t", text))
    lines = pc.binary_join_element_wise(lines, pa.scalar("", text), pa.scalar("\n", text))  # line + "\n"
    # The lines are one buffer already: slice it at the first and last offset, no per-line copy
    offsets = memoryview(lines.buffers()[1]).cast("q")  # large_string: 64-bit offsets
    start, end = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    return lines.buffers()[2][start:end].to_pybytes()


def stream_batches(cursor: Any, sink: Callable[[bytes], None]) -> int:
    """Write every row of ``cursor``'s executed SELECT to ``sink``, one call per Arrow batch; the rows written."""
    rows = 0
    while (batch := cursor.arrow_batch(ARROW_ROWS)).num_rows:
        sink(encode_batch(batch))
        rows += batch.num_rows
    return rows
