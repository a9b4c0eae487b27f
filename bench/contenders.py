"""The two contenders outside Airflow: the raw ``psql | psql`` COPY ceiling and pgloader.

Each function empties the target database, runs its contender once over every table and
returns a ``RunResult``; creating the target tables for the ceiling is not timed, counting the
copied rows afterwards (the check that every row arrived) is not timed either.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pg8000.native import identifier

from bench.databases import TARGET_DATABASE, SourceTable, libpq_target, reset_database, row_counts
from bench.memory import TreeSampler
from bench.results import RunResult, TableTiming
from include.stackoverflow.database import connect
from include.stackoverflow.schema import TABLES_BY_NAME, postgres_ddl, postgres_primary_key_ddl
from localdev import postgres

PGLOADER_TIME = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?([\d.]+)s$")
# A summary line: "public"."Posts"   0   372920   431.9 MB   10.538s  (bytes may be blank)
PGLOADER_TABLE = re.compile(r'^\s*"public"\."(\w+)"\s+(\d+)\s+(\d+)\s+(?:[\d.]+ [kMGT]?B\s+)?(\S+)\s*$')
# pgloader's PostgreSQL source turns timestamp(3) into "timestamp without time zone(3)", a syntax error
# (dimitri/pgloader#1273, open): this cast keeps the precision and drops the misplaced typmod.
PGLOADER_CAST = 'CAST type "timestamp without time zone" to "timestamp(3) without time zone" drop typemod'


def everything(title: str) -> str:
    """Role of every process a non-Airflow contender starts: its peak is the contender's peak."""
    return "process"


def _copy_pipe(psql: Path, source_url: str, target_url: str, table: str, timeout: float) -> float:
    """``psql -c 'COPY t TO STDOUT' | psql -c 'COPY t FROM STDIN'``; return its wall seconds."""
    source, env = libpq_target(source_url)
    target, _ = libpq_target(target_url)  # same server, same superuser password
    quiet = [str(psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"]
    started = time.monotonic()
    out = subprocess.Popen(
        [*quiet, source, "-c", f"COPY {identifier(table)} TO STDOUT"], stdout=subprocess.PIPE, env=env
    )
    into = subprocess.Popen([*quiet, target, "-c", f"COPY {identifier(table)} FROM STDIN"], stdin=out.stdout, env=env)
    assert out.stdout is not None
    out.stdout.close()  # only the reader holds the pipe now: it sees EOF when the writer exits
    try:
        codes = (into.wait(timeout=timeout), out.wait(timeout=timeout))
    except subprocess.TimeoutExpired:
        out.kill()
        into.kill()
        raise
    if any(codes):
        raise RuntimeError(f"ceiling COPY of {table} failed: psql exit codes {codes}")
    return time.monotonic() - started


def ceiling(
    server: postgres.LocalServer, source_url: str, tables: list[SourceTable], *, jobs: int, timeout: float
) -> RunResult:
    """COPY each table through two psql processes into an empty twin without a primary key; ``jobs`` at a time."""
    target_url = reset_database(server, TARGET_DATABASE)
    conn = connect(target_url)
    for t in tables:
        conn.run(postgres_ddl(TABLES_BY_NAME[t.name], with_primary_key=False))
    conn.close()
    psql = postgres.find_bin_dir() / "psql"
    with TreeSampler(everything) as sampler:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=jobs) as pool:  # tables are largest first: the long pole starts first
            seconds = list(pool.map(lambda t: _copy_pipe(psql, source_url, target_url, t.name, timeout), tables))
        total = time.monotonic() - started
    extras: dict = {"jobs": jobs}
    if jobs == 1:  # what the primary keys would add, for comparison with contenders that build them
        conn = connect(target_url)
        extras["primary_key_seconds"] = {}
        for t in tables:
            began = time.monotonic()
            conn.run(postgres_primary_key_ddl(TABLES_BY_NAME[t.name]))
            extras["primary_key_seconds"][t.name] = round(time.monotonic() - began, 3)
        conn.close()
    timings = [TableTiming(t.name, t.rows, t.bytes, round(s, 3)) for t, s in zip(tables, seconds, strict=True)]
    return check_copy(
        RunResult("ceiling" if jobs == 1 else "ceiling_parallel", 0, round(total, 3), timings, extras=extras),
        sampler,
        target_url,
        tables,
    )


def pgloader(
    server: postgres.LocalServer,
    source_url: str,
    tables: list[SourceTable],
    *,
    work_dir: Path,
    timeout: float,
    with_options: str = "",
) -> RunResult:
    """``pgloader`` LOAD DATABASE from the source into an empty database: schema, data, indexes, sequences.

    ``with_options`` are added to the WITH clause (say ``workers = 2, prefetch rows = 10000``: the
    defaults exhaust pgloader's heap on Posts at SCALE=1, dimitri/pgloader#962).
    """
    target_url = reset_database(server, TARGET_DATABASE)
    work_dir.mkdir(parents=True, exist_ok=True)
    command = work_dir / "bench.load"
    command.write_text(
        f"LOAD DATABASE\n  FROM {source_url}\n  INTO {target_url}\n"
        "WITH include drop, create tables, create indexes, reset sequences, foreign keys"
        + (f", {with_options}" if with_options else "")
        + "\n"
        f"{PGLOADER_CAST}\n;\n"
    )
    command.chmod(0o600)  # it holds the password
    binary = shutil.which("pgloader") or "pgloader"
    try:
        with TreeSampler(everything) as sampler:
            started = time.monotonic()
            done = subprocess.run(
                [binary, "--root-dir", str(work_dir), str(command)], capture_output=True, text=True, timeout=timeout
            )
            total = time.monotonic() - started
    finally:
        command.unlink(missing_ok=True)
    (work_dir / "pgloader.out").write_text(done.stdout + done.stderr)
    found = {
        m[1]: (int(m[2]), int(m[3]), _pgloader_seconds(m[4]))
        for m in map(PGLOADER_TABLE.match, done.stdout.splitlines())
        if m
    }
    timings = [TableTiming(t.name, t.rows, t.bytes, found.get(t.name, (0, 0, None))[2]) for t in tables]
    errors = sum(e for e, _, _ in found.values())
    extras = {"errors": errors, "exit_code": done.returncode, "with_options": with_options}
    result = RunResult("pgloader", 0, round(total, 3), timings, extras=extras)
    if done.returncode or errors or len(found) != len(tables):
        result.ok = False
        heap = "; heap exhausted" if "Heap exhausted" in done.stdout + done.stderr else ""
        result.note = f"pgloader exit {done.returncode}, {errors} errors{heap}; see {work_dir / 'pgloader.out'}"
    return check_copy(result, sampler, target_url, tables)


def _pgloader_seconds(text: str) -> float | None:
    """pgloader prints durations as ``0.272s``, ``1m12.345s`` or ``1h2m3.4s``."""
    m = PGLOADER_TIME.match(text)
    return None if m is None else int(m[1] or 0) * 3600 + int(m[2] or 0) * 60 + float(m[3])


def check_copy(result: RunResult, sampler: TreeSampler, target_url: str, tables: list[SourceTable]) -> RunResult:
    """Attach the memory peaks, and fail the run if any table's row count differs from the source's."""
    result.processes = sampler.peaks()
    result.peak_concurrent_mb = sampler.peak_sum_mb.get("process", 0.0)
    counts = row_counts(target_url, [t.name for t in tables])
    wrong = {t.name: counts[t.name] for t in tables if counts[t.name] != t.rows}
    if wrong:
        result.ok = False
        result.note = (result.note + f"; row counts differ from the source: {wrong}").lstrip("; ")
    return result
