"""Stream bytes from a source reader into a COPY writer through bounded spools.

A reader thread writes COPY text into spools (``SpooledTemporaryFile``); the calling thread
hands finished spools to ``COPY ... FROM STDIN`` in ``chunk_bytes`` messages. Reading and writing
overlap, and the reader never waits for a slow target: while the in-memory budget
(``buffer_bytes``) is used up, new spools go straight to disk. Memory therefore stays under the
budget plus one row, whatever the table size, and the source is released as early as possible.
The budget covers what Python allocates for the data (spools with their growth headroom, chunks
in flight), not the process around it.
"""

from __future__ import annotations

import ctypes
import queue
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, TypeVar

from include.replication.settings import MB

R = TypeVar("R")

DEFAULT_BUFFER_BYTES = 256 * MB
# A spool goes to the writer once it holds this much: large enough that per-spool costs vanish,
# small enough that the target starts loading within moments of the first rows.
MAX_HANDOFF_BYTES = 8 * MB
CHUNK_BYTES = 1 * MB  # size of each COPY data message sent to the target
READER_JOIN_TIMEOUT_S = 30  # after a writer failure, how long to wait for the reader to notice

SpoolFactory = Callable[[int], IO[bytes]]
# glibc mallopt parameters: free memory at the top of a heap beyond the trim threshold goes back
# to the OS; allocations of at least the mmap threshold get their own mapping, unmapped when
# freed; threads share at most M_ARENA_MAX heaps ("arenas").
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 4 * MB
TRIM_THRESHOLD_BYTES = 4 * MB
# What the heap holds for a copy outside the spools and the writer's chunks: up to
# TRIM_THRESHOLD_BYTES of freed blocks, and the reader's own blocks in flight (a socket read, the
# rows cut from it). The spools' budget leaves this much room.
HEAP_RESERVE_BYTES = 16 * MB
_malloc_tuned = False


def tune_malloc() -> bool:
    """Tune glibc for the copy: blocks of 4 MiB or more mapped on their own, 4 MiB of freed heap kept, one arena.

    - By default glibc raises its mmap threshold each time a mapped block is freed (up to 32 MiB),
      so after the first spool is released, spool buffers come from the heap, where freed ones stay
      resident and fragment: copying Posts at scale 1 grew the process by 310 MB against a 256 MB
      budget, 235 MB with the threshold fixed (``bench/profile_table.py``).
    - Fixing it also stops glibc from adjusting its trim threshold, which then stays at 128 KiB:
      the heap shrank after nearly every freed socket read or COPY chunk (1 MiB each) and grew
      again for the next, so every byte copied paid page faults several times over (Posts at
      scale 1: 3.5 million minor faults and 12.2-14.4 s of Python CPU; with a 4 MiB trim
      threshold 0.4-0.45 million and 7.1-10.3 s).
    - Each arena keeps its own freed blocks: in an Airflow task, with its other threads, Posts'
      task peaked at 427 MB, 407 MB once the threads shared one arena (the GIL serialises their
      allocations anyway). ``SpoolStreamer`` leaves ``HEAP_RESERVE_BYTES`` of its budget for the
      heap: 391-399 MB in ``make bench SCALE=1`` (goal: below 406).

    Once per process; a no-op off glibc.
    """
    global _malloc_tuned
    if _malloc_tuned or not sys.platform.startswith("linux"):
        return _malloc_tuned
    try:
        libc = ctypes.CDLL(None)
        settings = (
            (M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
            (M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
            (M_ARENA_MAX, 1),
        )
        _malloc_tuned = all([bool(libc.mallopt(parameter, value)) for parameter, value in settings])
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        _malloc_tuned = False
    return _malloc_tuned


def spooled_file(max_size: int) -> IO[bytes]:
    """A spool kept in memory up to ``max_size`` bytes, on disk beyond; 0 means disk from the start."""
    if max_size <= 0:
        return tempfile.TemporaryFile()
    return tempfile.SpooledTemporaryFile(max_size=max_size)


class StreamCancelled(Exception):
    """Raised in the reader when the writer has failed: stop reading."""


@dataclass(frozen=True)
class StreamStats:
    bytes: int
    spools: int
    spilled_bytes: int  # bytes that went to disk because the in-memory budget was in use
    peak_buffered_bytes: int  # most bytes held in memory at once


@dataclass
class _Spool:
    file: IO[bytes]
    reserved: int  # in-memory budget this spool holds (0: a disk spool)
    size: int = 0


@dataclass(frozen=True)
class _Failure:
    error: BaseException


_END = object()


class SpoolStreamer:
    """One table's (or partition's) bytes from a reader function to a writer function."""

    def __init__(
        self,
        *,
        buffer_bytes: int = DEFAULT_BUFFER_BYTES,
        chunk_bytes: int = CHUNK_BYTES,
        spool_factory: SpoolFactory = spooled_file,
    ) -> None:
        if buffer_bytes < MB:
            raise ValueError(f"buffer must be at least 1 MB, got {buffer_bytes} bytes")
        self.buffer_bytes = buffer_bytes
        self.handoff_bytes = min(MAX_HANDOFF_BYTES, buffer_bytes // 4)
        self.chunk_bytes = chunk_bytes
        self.spool_factory = spool_factory
        self._lock = threading.Lock()
        # The writer holds up to two chunks outside any spool (the one read, the message pg8000 builds),
        # and the heap holds HEAP_RESERVE_BYTES more (tune_malloc).
        self._available = max(buffer_bytes - 2 * chunk_bytes - HEAP_RESERVE_BYTES, buffer_bytes // 2)
        self._peak = 0
        self._queue: queue.Queue[Any] = queue.Queue()
        self._cancelled = threading.Event()
        self._current: _Spool | None = None
        self._bytes = 0
        self._spools = 0
        self._spilled = 0

    def run(
        self, read: Callable[[Callable[[bytes], None]], R], write: Callable[[Iterator[bytes]], None]
    ) -> tuple[R, StreamStats]:
        """Run ``read(sink)`` in a thread and ``write(chunks)`` here; return the reader's result and stats."""
        tune_malloc()
        result: list[R] = []
        reader = threading.Thread(target=self._read, args=(read, result), name="spool-reader", daemon=True)
        reader.start()
        try:
            write(self._chunks())
        except BaseException:
            self._cancelled.set()
            reader.join(READER_JOIN_TIMEOUT_S)
            self._discard_queued()
            raise
        reader.join()
        stats = StreamStats(self._bytes, self._spools, self._spilled, self._peak)
        return result[0], stats

    # --- reader side ---

    def _read(self, read: Callable[[Callable[[bytes], None]], R], result: list[R]) -> None:
        try:
            result.append(read(self._sink))
            self._hand_off()
            self._queue.put(_END)
        except BaseException as error:  # every failure must reach the writer thread
            if self._current is not None:
                self._release(self._current)
                self._current = None
            self._queue.put(_Failure(error))

    def _sink(self, data: bytes) -> None:
        if self._cancelled.is_set():
            raise StreamCancelled("the COPY writer failed; reading stopped")
        spool = self._current
        if spool is not None and spool.size and spool.size + len(data) > self._capacity(spool):
            self._hand_off()
            spool = None
        if spool is None:
            spool = self._current = self._new_spool()
        spool.file.write(data)
        spool.size += len(data)
        self._bytes += len(data)
        if not spool.reserved:
            self._spilled += len(data)

    def _capacity(self, spool: _Spool) -> int:
        # An in-memory spool is a BytesIO, which over-allocates by up to 1/8 as it grows: filling
        # it to 8/9 of its reservation keeps the real allocation inside the budget.
        return spool.reserved * 8 // 9 if spool.reserved else self.handoff_bytes

    def _new_spool(self) -> _Spool:
        with self._lock:
            reserved = min(self.handoff_bytes, self._available)
            if reserved < self.handoff_bytes // 4:
                reserved = 0  # budget in use: this spool goes to disk
            self._available -= reserved
            in_use = self.buffer_bytes - self._available
            self._peak = max(self._peak, in_use)
        self._spools += 1
        return _Spool(self.spool_factory(reserved), reserved)

    def _hand_off(self) -> None:
        if self._current is not None and self._current.size:
            self._queue.put(self._current)
        elif self._current is not None:
            self._release(self._current)
        self._current = None

    # --- writer side ---

    def _chunks(self) -> Iterator[bytes]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            try:
                item.file.seek(0)
                while data := item.file.read(self.chunk_bytes):
                    yield data
            finally:
                self._release(item)

    def _release(self, spool: _Spool) -> None:
        spool.file.close()
        with self._lock:
            self._available += spool.reserved

    def _discard_queued(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Spool):
                self._release(item)
