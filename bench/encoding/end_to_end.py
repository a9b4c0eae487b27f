"""End to end: encode and send rows with ``COPY ... FROM STDIN`` into a real PostgreSQL, per driver.

Each load is what a replace-mode table load does (``load._copy``): in one transaction, create the
table, ``COPY ... WITH (FREEZE)``, then, here, roll back so every repeat starts alike. Only the
COPY statement is timed; rows are encoded while they stream, in batches of ``BATCH_ROWS`` as
``mssql.source`` fetches them, in one thread (the DAG's reader/writer threads are left out: they
are the same for every variant). The first repeat of each variant reads the table back and
compares it with the input, value for value.
"""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import pg8000.native
import psycopg
from pg8000.native import identifier

from bench.encoding.encoders import ENCODERS, has_nul
from bench.encoding.rows import Dataset
from include.replication.mssql.dialect import FETCH_ROWS
from include.stackoverflow.database import connect

BATCH_ROWS = FETCH_ROWS
TABLE = "enc_bench"
PRE_ENCODED = "pre-encoded"  # send only: what the driver and the server cost without any encoding


def batches(rows: Sequence[tuple]) -> Iterator[Sequence[tuple]]:
    """``rows`` in slices of ``BATCH_ROWS``, as ``fetchmany`` hands them over."""
    for start in range(0, len(rows), BATCH_ROWS):
        yield rows[start : start + BATCH_ROWS]


def expected(data: Dataset) -> list[tuple]:
    """The rows as PostgreSQL should give them back: NUL stripped (the strip policy), nothing else changed."""
    return [tuple(v.replace("\x00", "") if isinstance(v, str) else v for v in row) for row in data.rows]


def _ddl(data: Dataset) -> str:
    body = ", ".join(f"{identifier(name)} {pg_type}" for name, pg_type in data.columns)
    return f"CREATE TABLE {TABLE} ({body})"


def _copy_sql(data: Dataset, options: str = "") -> str:
    columns = ", ".join(identifier(name) for name in data.column_names)
    return f"COPY {TABLE} ({columns}) FROM STDIN WITH (FREEZE{options})"


def _new_encoder(name: str, data: Dataset) -> Any:
    return ENCODERS[name](data.table, data.column_names, key=["Id"], nul_policy="strip")


def _chunks(encoder: str, data: Dataset) -> Iterable[bytes]:
    """COPY data, encoded as it streams; ``pre-encoded``: by ``ours``, all of it before the clock starts."""
    if encoder == PRE_ENCODED:
        enc = _new_encoder("ours", data)
        return [enc.encode(batch) for batch in batches(data.rows)]
    enc = _new_encoder(encoder, data)
    return (enc.encode(batch) for batch in batches(data.rows))


# --- pg8000 (the project's driver): bytes from any encoder, streamed as COPY data messages ---


def pg8000_connect(url: str, *, nodelay: bool = True) -> pg8000.native.Connection:
    """A pg8000 connection whose socket sends at once (TCP_NODELAY), through pg8000's public ``sock``.

    Without it every ``COPY ... FROM STDIN`` ends in a ~44 ms stall (``copy_latency_ms``): pg8000
    writes its last messages as small segments, which Nagle's algorithm holds until the server's
    delayed ACK. The stall is per statement, not per row, so timing
    50,000-row loads with it would misstate what a 10-million-row table costs.
    """
    if not nodelay:
        return connect(url)
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return pg8000.native.Connection(
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        database=unquote(parts.path.lstrip("/")) or "postgres",
        sock=sock,
    )


def pg8000_load(url: str, data: Dataset, encoder: str, *, check: bool, nodelay: bool = True) -> float:
    """Seconds for one COPY of ``data`` through pg8000 with ``encoder``'s bytes."""
    conn = pg8000_connect(url, nodelay=nodelay)
    try:
        conn.run("BEGIN")
        conn.run(_ddl(data))
        chunks = _chunks(encoder, data)
        options = ", FORMAT csv" if encoder == "csv" else ""
        started = time.perf_counter()
        conn.run(_copy_sql(data, options), stream=chunks)
        elapsed = time.perf_counter() - started
        if check:
            _check(data, [tuple(r) for r in conn.run(f"SELECT * FROM {TABLE} ORDER BY 1")], f"pg8000+{encoder}")
        conn.run("ROLLBACK")
        return elapsed
    finally:
        conn.close()


# --- psycopg 3: our bytes through Copy.write, or its own Copy.write_row (text or binary) ---


def psycopg_load(url: str, data: Dataset, encoder: str, *, check: bool) -> float:
    """Seconds for one COPY of ``data`` through psycopg: ``ours``/``csv`` bytes, or ``write_row``/``binary``."""
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            cur.execute(_ddl(data))
            options = {"csv": ", FORMAT csv", "binary": ", FORMAT binary"}.get(encoder, "")
            chunks = _chunks(encoder, data) if encoder not in ("write_row", "binary") else ()
            started = time.perf_counter()
            with cur.copy(_copy_sql(data, options)) as copy:
                if encoder in ("write_row", "binary"):
                    _write_rows(copy, data, binary=encoder == "binary")
                for chunk in chunks:
                    copy.write(chunk)
            elapsed = time.perf_counter() - started
            if check:
                cur.execute(f"SELECT * FROM {TABLE} ORDER BY 1")
                _check(data, cur.fetchall(), f"psycopg+{encoder}")
        conn.rollback()
    return elapsed


def _write_rows(copy: psycopg.Copy, data: Dataset, *, binary: bool) -> None:
    policy = _new_encoder("ours", data)  # only for its NUL policy
    write_row = copy.write_row
    if binary:
        # Binary COPY needs each column's type up front, and its text dumper passes NUL on to the
        # server (which fails the whole COPY): the policy needs a look at every string first.
        copy.set_types([pg_type.split("(")[0] for _, pg_type in data.columns])
        for row in data.rows:
            write_row(policy._without_nul(row) if has_nul(row) else row)
        return
    for row in data.rows:
        try:
            write_row(row)
        except psycopg.DataError:  # NUL: refused before anything reached the buffer
            write_row(policy._without_nul(row))


def _check(data: Dataset, back: list[tuple], label: str) -> None:
    want = expected(data)
    if back != want:
        bad = next(i for i, (a, b) in enumerate(zip(back, want, strict=False)) if a != b) if back else 0
        raise AssertionError(
            f"{label}: {data.table} did not round-trip ({len(back)} rows back of {len(want)}); first difference "
            f"at row {bad}: got {back[bad] if bad < len(back) else None!r}, want {want[bad]!r}"
        )


VARIANTS: dict[str, tuple[Callable[..., float], str]] = {
    "pg8000 send only": (pg8000_load, PRE_ENCODED),
    "psycopg send only": (psycopg_load, PRE_ENCODED),
    "pg8000 + ours": (pg8000_load, "ours"),
    "pg8000 + csv": (pg8000_load, "csv"),
    "pg8000 + psycopg formatter": (pg8000_load, "psycopg"),
    "psycopg + ours": (psycopg_load, "ours"),
    "psycopg + csv": (psycopg_load, "csv"),
    "psycopg write_row": (psycopg_load, "write_row"),
    "psycopg write_row binary": (psycopg_load, "binary"),
}


def server_version(url: str) -> str:
    """The target server's version string."""
    conn: pg8000.native.Connection = connect(url)
    try:
        return str(conn.run("SHOW server_version")[0][0])
    finally:
        conn.close()


def copy_latency_ms(url: str, *, repeat: int = 10) -> dict[str, float]:
    """Median milliseconds of a one-row ``COPY ... FROM STDIN``: the fixed cost of a statement, per driver."""
    row = b"1\tx\n"
    results = {}
    for label, nodelay in (("pg8000", False), ("pg8000 TCP_NODELAY", True)):
        conn = pg8000_connect(url, nodelay=nodelay)
        conn.run("CREATE TEMPORARY TABLE latency (a int, b text)")
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            conn.run("COPY latency FROM STDIN", stream=[row])
            times.append(time.perf_counter() - started)
        conn.close()
        results[label] = round(statistics.median(times) * 1000, 2)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMPORARY TABLE latency (a int, b text)")
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            with cur.copy("COPY latency FROM STDIN") as copy:
                copy.write(row)
            times.append(time.perf_counter() - started)
        results["psycopg"] = round(statistics.median(times) * 1000, 2)
    return results
