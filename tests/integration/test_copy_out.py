"""The block COPY OUT reader returns exactly what pg8000's own per-row path returns, and fails like it."""

from __future__ import annotations

import pytest
from pg8000.exceptions import DatabaseError

from include.replication.postgres import copy_out as copy_out_module
from include.replication.postgres.copy_out import copy_out
from include.stackoverflow.database import connect


class _Collect:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.parts.append(data)


def _both_ways(conn, sql: str) -> tuple[bytes, int, bytes]:
    chunks: list[bytes] = []
    rows = copy_out(conn, sql, chunks.append)
    reference = _Collect()
    conn.run(sql, stream=reference)
    return b"".join(chunks), rows, b"".join(reference.parts)


def test_same_bytes_as_pg8000_across_block_and_chunk_edges(fresh_database, monkeypatch):
    """Rows far larger than a socket block, tiny rows, NULLs, escapes: byte-identical, counted exactly."""
    monkeypatch.setattr(copy_out_module, "READ_BYTES", 4096)  # many partial messages per row
    monkeypatch.setattr(copy_out_module, "SINK_BYTES", 1000)
    conn = connect(fresh_database)
    conn.run("CREATE TABLE t (id int, txt text, b bytea)")
    conn.run(
        "INSERT INTO t SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE repeat(E'x\\t\\\\\\n😀', i % 50) END, "
        "CASE WHEN i % 5 = 0 THEN decode('00ff', 'hex') END FROM generate_series(1, 5000) i"
    )
    conn.run("INSERT INTO t VALUES (0, repeat('y', 3000000), NULL)")
    data, rows, reference = _both_ways(conn, "COPY (SELECT * FROM t ORDER BY id) TO STDOUT")
    assert rows == 5001
    assert data == reference
    assert data.count(b"\n") == 5001
    conn.close()


def test_empty_result_and_connection_reusable(fresh_database):
    conn = connect(fresh_database)
    conn.run("CREATE TABLE t (id int)")
    data, rows, reference = _both_ways(conn, "COPY t TO STDOUT")
    assert (data, rows, reference) == (b"", 0, b"")
    assert conn.run("SELECT 41 + 1") == [[42]]
    conn.close()


def test_error_mid_copy_raises_and_leaves_connection_in_sync(fresh_database):
    """An error after rows were sent raises pg8000's DatabaseError; the next statement works."""
    conn = connect(fresh_database)
    chunks: list[bytes] = []
    sql = "COPY (SELECT 1 / (5000 - i) FROM generate_series(1, 10000) i) TO STDOUT"
    with pytest.raises(DatabaseError, match="division by zero"):
        copy_out(conn, sql, chunks.append)
    assert conn.run("SELECT 'still in sync'") == [["still in sync"]]
    conn.close()


def test_pg8000_internals_it_relies_on_exist(fresh_database):
    """copy_out reaches into pg8000's connection; this pins each attribute against the locked version."""
    conn = connect(fresh_database)
    assert callable(conn.send_QUERY)
    assert hasattr(conn._sock, "read1") and hasattr(conn._sock, "flush")
    for code in (b"H", b"c", b"C", b"Z", b"E", b"N", b"S"):
        assert code in conn.message_types, code
    conn.close()
