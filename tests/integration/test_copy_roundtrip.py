"""The COPY encoder's edge cases survive a real round trip through PostgreSQL, value for value."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from include.replication.copy.encoder import RowEncoder
from include.stackoverflow.database import connect

TEXTS = ["", " ", "trailing  ", "a\\b", "\\N", "tab\there", "lf\nhere", "cr\rhere", "crlf\r\nhere",
         "café 数据", "😀 𝔘 𠜎", "'quoted' \"double\"", "x" * 30_000]  # fmt: skip


def test_edge_values_round_trip(fresh_database):
    """NULL vs '', escapes, non-BMP text, bytes, booleans, extreme dates and numbers come back identical."""
    conn = connect(fresh_database)
    conn.run(
        "CREATE TABLE t (id int, txt text, b bytea, flag boolean, d date, ts timestamp(6), tm time(6), "
        "n numeric(19,4), f float8, big bigint, u uuid)"
    )
    rows = [(i, text, None, None, None, None, None, None, None, None, None) for i, text in enumerate(TEXTS)]
    rows += [
        (100, None, b"\x00\x01\\\xff", True, dt.date(1, 1, 1), dt.datetime(1753, 1, 1), dt.time(0, 0),
         Decimal("-922337203685477.5808"), 1e-308, -(2**63), uuid.UUID(int=0)),
        (101, None, b"", False, dt.date(9999, 12, 31), dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
         dt.time(23, 59, 59, 999999), Decimal("922337203685477.5807"), 0.1, 2**63 - 1,
         uuid.UUID("6f9619ff-8b86-d011-b42d-00c04fc964ff")),
    ]  # fmt: skip
    data = RowEncoder("t", ["id", "txt", "b", "flag", "d", "ts", "tm", "n", "f", "big", "u"], key=["id"],
                      nul_policy="fail").encode(rows)  # fmt: skip
    conn.run("COPY t FROM STDIN", stream=[data])
    back = [tuple(r) for r in conn.run("SELECT * FROM t ORDER BY id")]
    assert back == rows
    conn.close()


def test_batch_with_nul_round_trips_stripped(fresh_database):
    """A NUL anywhere sends the batch down the row-by-row path; every row still loads exactly (NUL stripped)."""
    conn = connect(fresh_database)
    conn.run("CREATE TABLE t (id int, txt text, flag boolean, ts timestamp(3))")
    rows = [(i, f"v{i}\\\t\r\n😀", i % 3 == 0, dt.datetime(2010, 1, 1, 0, 0, i % 60, (i % 1000) * 1000))
            for i in range(2_000)]  # fmt: skip
    rows[1_234] = (1_234, "nul\x00inside", None, None)
    encoder = RowEncoder("t", ["id", "txt", "flag", "ts"], key=["id"], nul_policy="strip")
    conn.run("COPY t FROM STDIN", stream=[encoder.encode(rows[:1_000]), encoder.encode(rows[1_000:])])
    back = [tuple(r) for r in conn.run("SELECT * FROM t ORDER BY id")]
    assert back == [(1_234, "nulinside", None, None) if r[0] == 1_234 else r for r in rows]
    assert dict(encoder.nul_stripped) == {"txt": 1}
    conn.close()
