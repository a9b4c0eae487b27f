"""Deterministic StackOverflow-shaped rows with the Python types pymssql returns.

The row generators of ``include.stackoverflow.generate`` give the real tables' shape (NULL rates,
~1 KB post bodies with CRLF, backslashes, tabs, non-BMP text, empty strings distinct from NULL);
they format dates as strings for their own COPY, so this module turns each ``datetime`` column
back into ``datetime.datetime``, which is what pymssql hands over. ``Mixed`` covers the types
StackOverflow2010 lacks but other SQL Server databases have: bit, money/decimal, varbinary, float.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal

from include.stackoverflow.generate import CHUNK_ROWS, Plan, generate_rows
from include.stackoverflow.schema import ROW_COUNTS, TABLES_BY_NAME

SEED = 42
SO_TABLES = ("Posts", "Comments", "Users", "Votes")
MIXED_COLUMNS = (("Id", "int4"), ("Flag", "bool"), ("Amount", "numeric(19,4)"), ("Blob", "bytea"),
                 ("Ratio", "float8"), ("Note", "text"), ("At", "timestamp(3)"))  # fmt: skip


@dataclass(frozen=True)
class Dataset:
    """One table's benchmark rows and the PostgreSQL column types to load them into."""

    table: str
    columns: tuple[tuple[str, str], ...]  # (name, PostgreSQL type)
    rows: list[tuple]

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]


def build(table: str, rows: int, *, seed: int = SEED) -> Dataset:
    """``rows`` rows of ``table`` (one of ``SO_TABLES`` or ``Mixed``), the same for the same seed."""
    if table == "Mixed":
        return Dataset(table, MIXED_COLUMNS, _mixed(rows, seed))
    if rows > CHUNK_ROWS:
        raise ValueError(f"at most {CHUNK_ROWS:,} rows per table (one generator chunk), got {rows:,}")
    plan = Plan.for_scale(max(rows / ROW_COUNTS[table], 1e-6) * 1.01, seed)
    schema = TABLES_BY_NAME[table]
    dates = [i for i, c in enumerate(schema.columns) if c.sql_type == "datetime"]
    out = []
    for row in generate_rows(plan, table, 0):
        values = list(row)
        for i in dates:
            if values[i] is not None:
                values[i] = dt.datetime.fromisoformat(values[i])
        out.append(tuple(values))
        if len(out) == rows:
            break
    columns = tuple((c.name, _pg_type(c.sql_type, c.length)) for c in schema.columns)
    return Dataset(table, columns, out)


def _pg_type(sql_type: str, length: int | None) -> str:
    if sql_type == "int":
        return "int4"
    if sql_type == "datetime":
        return "timestamp(3)"
    return "text" if length == -1 else f"varchar({length})"


def _mixed(rows: int, seed: int) -> list[tuple]:
    rng = random.Random(f"{seed}:Mixed")
    start = dt.datetime(2008, 7, 31)
    out = []
    for i in range(rows):
        out.append(
            (
                i + 1,
                None if rng.random() < 0.1 else rng.random() < 0.5,
                None if rng.random() < 0.2 else Decimal(rng.randrange(-(10**9), 10**9)).scaleb(-4),
                None if rng.random() < 0.3 else rng.randbytes(rng.randrange(0, 64)),
                None if rng.random() < 0.1 else rng.uniform(-1e6, 1e6),
                None if rng.random() < 0.2 else "" if rng.random() < 0.1 else f"note\t{i}\\",
                start + dt.timedelta(seconds=rng.randrange(10**8), milliseconds=rng.choice((0, 3, 7))),
            )
        )
    return out


def edge_cases() -> Dataset:
    """The values encoders get wrong, for a value-for-value check of every candidate (not timed)."""
    texts = ["", " ", "\\N", "\\.", "a\n\\.\nb", "tab\there", "crlf\r\nhere", "cr\rhere", "a\\b", '"quoted",x',
             "café 数据", "😀 𝔘 𠜎", "nul\x00here", "trailing  ", "x" * 30_000]  # fmt: skip
    rows = [(i, text, None, None, None, None, None) for i, text in enumerate(texts, start=1)]
    rows += [
        (100, None, True, Decimal("-922337203685477.5808"), b"\x00\\\xff", 1e-308, dt.datetime(1753, 1, 1)),
        (101, None, False, Decimal("0.0000"), b"", -0.0, dt.datetime(9999, 12, 31, 23, 59, 59, 997000)),
    ]
    return Dataset("Edge", MIXED_COLUMNS[:1] + (("Note", "text"),) + MIXED_COLUMNS[1:5] + MIXED_COLUMNS[6:], rows)
