"""Arrow batches to COPY text column by column: the bytes ``RowEncoder`` writes for the same rows.

The batches are built with pyarrow in the types mssql-python 1.16 gives each SQL Server type
(int32, int64, int16, uint8, bool, timestamp[us], date32); tests/mssql/test_read_drivers.py reads
them from a real server.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from include.replication.copy.encoder import RowEncoder
from include.replication.models import SourceColumn
from include.replication.mssql.columnar import COLUMNAR_TYPES, encode_batch, fits
from include.replication.settings import NulPolicy

# (SQL Server type, Arrow type as mssql-python gives it, values: edges and NULL)
COLUMNS = [
    ("int", pa.int32(), [-(2**31), 0, 2**31 - 1, None]),
    ("bigint", pa.int64(), [-(2**63), -1, 2**63 - 1, None]),
    ("smallint", pa.int16(), [-(2**15), 7, 2**15 - 1, None]),
    ("tinyint", pa.uint8(), [0, 1, 255, None]),
    ("bit", pa.bool_(), [True, False, True, None]),
    (
        "datetime",
        pa.timestamp("us"),
        [
            dt.datetime(1753, 1, 1),
            dt.datetime(9999, 12, 31, 23, 59, 59, 997000),
            dt.datetime(2010, 7, 31, 21, 42, 52, 3000),
            None,
        ],
    ),  # fmt: skip
    (
        "smalldatetime",
        pa.timestamp("us"),
        [dt.datetime(1900, 1, 1), dt.datetime(2079, 6, 6, 23, 59), dt.datetime(2000, 2, 29, 12, 30), None],
    ),  # fmt: skip
    ("date", pa.date32(), [dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(1970, 1, 1), None]),
]


def row_encoded(batch: pa.RecordBatch) -> bytes:
    """What the row path writes for the same values (as tuples, as the drivers hand them over)."""
    rows = [tuple(row.values()) for row in batch.to_pylist()]
    names = batch.schema.names
    return RowEncoder("dbo.T", names, key=names[:1], nul_policy=NulPolicy.STRIP).encode(rows)


@pytest.mark.parametrize(("kind", "arrow", "values"), COLUMNS, ids=[c[0] for c in COLUMNS])
def test_each_type_as_the_row_encoder_writes_it(kind: str, arrow: pa.DataType, values: list):
    batch = pa.record_batch([pa.array([1, 2, 3, 4], pa.int32()), pa.array(values, arrow)], names=["Id", "v"])
    assert encode_batch(batch) == row_encoded(batch)


def test_a_votes_shaped_batch_and_a_slice_of_it():
    """Every column at once, NULLs included; a sliced batch (offset into shared buffers) writes only its rows."""
    batch = pa.record_batch([pa.array(v, a) for _, a, v in COLUMNS], names=[k for k, _, _ in COLUMNS])
    whole = encode_batch(batch)
    assert whole == row_encoded(batch)
    assert whole.count(b"\n") == 4 and b"\\N\t\\N" in whole
    part = batch.slice(1, 2)
    assert encode_batch(part) == row_encoded(part)


def test_a_whole_second_has_no_fraction_and_others_six_digits():
    """Python's isoformat: ``...:52`` for whole seconds, ``...:52.003000`` otherwise."""
    stamps = pa.array([dt.datetime(2010, 1, 1, 0, 0, 52), dt.datetime(2010, 1, 1, 0, 0, 52, 3000)], pa.timestamp("us"))
    batch = pa.record_batch([stamps], names=["t"])
    assert encode_batch(batch) == b"2010-01-01 00:00:52\n2010-01-01 00:00:52.003000\n"


def test_an_empty_batch_writes_nothing():
    assert encode_batch(pa.record_batch([pa.array([], pa.int32())], names=["Id"])) == b""


def test_an_arrow_type_without_a_kernel_is_refused():
    with pytest.raises(TypeError, match="no columnar COPY text for Arrow type"):
        encode_batch(pa.record_batch([pa.array([1.5], pa.float64())], names=["f"]))


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        (["int", "int", "bigint", "datetime"], True),  # Votes
        (["int", "datetime", "int", "int", "tinyint"], True),  # PostLinks
        (["INT", "Bit", "date", "smalldatetime", "smallint"], True),
        (["int", "nvarchar", "datetime"], False),  # Badges: text keeps the row path
        (["int", "decimal"], False),
        (["int", "datetime2"], False),  # read as text on the server
        (["int", "uniqueidentifier"], False),
        ([], False),
    ],
    ids=["votes", "postlinks", "every columnar type", "text", "decimal", "datetime2", "uuid", "no columns"],
)
def test_fits_only_tables_without_text_or_converted_types(types: list[str], expected: bool):
    assert fits([SourceColumn(f"c{i}", kind, True) for i, kind in enumerate(types)]) is expected
    assert COLUMNAR_TYPES == {"bit", "tinyint", "smallint", "int", "bigint", "datetime", "smalldatetime", "date"}
