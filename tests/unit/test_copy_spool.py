"""The spool streamer: bytes arrive intact and in order, memory stays within budget, failures travel both ways."""

from __future__ import annotations

import threading

import pytest

from include.replication.copy.spool import (
    CHUNK_BYTES,
    HEAP_RESERVE_BYTES,
    SpoolStreamer,
    StreamCancelled,
    spooled_file,
    tune_malloc,
)
from include.replication.settings import MB


def collect(chunks) -> bytes:
    return b"".join(chunks)


def test_bytes_arrive_intact_and_in_order():
    """Everything the reader writes reaches the writer, byte for byte, in order."""
    pieces = [f"{i}\tline {i}\n".encode() * (i % 50 + 1) for i in range(20_000)]
    received: list[bytes] = []

    def read(sink):
        for piece in pieces:
            sink(piece)
        return len(pieces)

    result, stats = SpoolStreamer(buffer_bytes=1 * MB).run(read, lambda chunks: received.append(collect(chunks)))
    assert result == len(pieces)
    assert received == [b"".join(pieces)]
    assert stats.bytes == sum(map(len, pieces))
    assert stats.spools > 1


def held_back(*, buffer_bytes: int, total_mb: int, piece: bytes):
    """Stream ``total_mb`` of ``piece`` through a writer that takes nothing until the reader is done.

    Returns the stats and the in-memory reservation of every spool created (0: a disk spool).
    """
    reserved: list[int] = []
    done_reading = threading.Event()

    def factory(max_size):
        reserved.append(max_size)
        return spooled_file(max_size)

    def read(sink):
        for _ in range(total_mb * MB // len(piece)):
            sink(piece)
        done_reading.set()

    def write(chunks):
        done_reading.wait(30)  # hold everything back until the reader is done
        assert len(collect(chunks)) == total_mb * MB

    _, stats = SpoolStreamer(buffer_bytes=buffer_bytes, spool_factory=factory).run(read, write)
    return stats, reserved


def test_slow_writer_spills_to_disk_within_budget():
    """A writer that cannot keep up makes the reader spill to disk; memory never exceeds the buffer."""
    stats, reserved = held_back(buffer_bytes=2 * MB, total_mb=12, piece=b"x" * 16_384)
    assert stats.peak_buffered_bytes <= 2 * MB
    assert stats.spilled_bytes >= 9 * MB
    assert 0 in reserved  # disk spools were created once the budget was used up


def test_spools_leave_room_for_the_heap_and_the_writer():
    """In-memory spools never hold more than the budget less two COPY chunks and the heap's reserve (glibc's
    freed blocks kept for reuse, the reader's own blocks), even when the writer takes nothing until the end."""
    _, reserved = held_back(buffer_bytes=64 * MB, total_mb=64, piece=b"z" * 65_536)
    room = 64 * MB - 2 * CHUNK_BYTES - HEAP_RESERVE_BYTES
    assert room - 2 * MB <= sum(reserved) <= room  # a spool smaller than a quarter of 8 MB goes to disk instead
    assert tune_malloc()  # glibc on Linux: the thresholds and the single arena are set


def test_reader_failure_reaches_the_writer_side():
    """An error in the source read is raised to the caller (the COPY fails, the transaction rolls back)."""

    def read(sink):
        sink(b"a\n")
        raise ConnectionResetError("source went away")

    with pytest.raises(ConnectionResetError, match="source went away"):
        SpoolStreamer(buffer_bytes=1 * MB).run(read, collect)


def test_writer_failure_stops_the_reader():
    """When the COPY fails, the reader is told to stop instead of reading the rest of the table."""
    seen: list[BaseException] = []

    def read(sink):
        try:
            while True:
                sink(b"y" * 65_536)
        except StreamCancelled as exc:
            seen.append(exc)
            raise

    def write(chunks):
        next(iter(chunks))
        raise BrokenPipeError("target connection killed")

    with pytest.raises(BrokenPipeError):
        SpoolStreamer(buffer_bytes=1 * MB).run(read, write)
    assert seen and isinstance(seen[0], StreamCancelled)


def test_buffer_below_one_megabyte_is_refused():
    """A buffer too small to hold a spool is a configuration error, said up front."""
    with pytest.raises(ValueError, match="at least 1 MB"):
        SpoolStreamer(buffer_bytes=100_000)
