"""Airflow's ``GenericTransfer`` (common-sql), one table per process, as a contender.

Each table runs ``GenericTransfer.execute`` in a fresh ``.venv/bin/python -m bench.generic_transfer``
process (so its peak memory is its own), with the two connections as ``AIRFLOW_CONN_*``
variables. The operator is used as documented: ``preoperator`` creates the target table (the
source's DDL, primary key included), ``get_records`` reads the whole table into memory, and
``insert_rows`` sends it in ``executemany`` batches of 1,000 rows, one commit per batch (a table too
big to hold in memory is read in the operator's LIMIT/OFFSET pages: see ``page_size_for``). The
timed part is ``execute()`` only, not the interpreter and Airflow import (~3 s per table).
A table gets ``GT_BASE_S + rows / min_rate`` seconds, then is stopped and reported unfinished.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench.contenders import check_copy, everything
from bench.databases import TARGET_DATABASE, SourceTable, reset_database, row_counts
from bench.memory import TreeSampler
from bench.results import RunResult, TableTiming
from localdev import postgres

PROJECT_DIR = Path(__file__).resolve().parent.parent
SOURCE_CONN_ID = "bench_source"
TARGET_CONN_ID = "bench_target"
GT_BASE_S = 120  # interpreter start, Airflow import, table creation: slack before the per-row budget
DEFAULT_MIN_RATE = 1_000  # rows/s below which a table is called impractical and stopped
# get_records holds the whole table as Python objects. Measured at scale 0.1 (peak minus the 139 MB
# of an idle process): Posts 432 MB of COPY text -> 1.95 GB, Votes 41 MB / 1.0M rows -> 0.35 GB.
# 5 bytes per COPY byte plus 400 per row bounds both; above a quarter of RAM (SCALE=1: Posts)
# the table is read in the operator's own LIMIT/OFFSET pages instead of swapping the machine to death.
MEMORY_PER_BYTE, MEMORY_PER_ROW = 5, 400
AUTO_PAGE_ROWS = 100_000


def transfer(table: str, *, page_size: int | None) -> dict:
    """Run ``GenericTransfer`` for ``table`` in this process; return seconds, rows and this process's peak."""
    from airflow.providers.common.sql.operators.generic_transfer import GenericTransfer
    from pg8000.native import identifier

    from include.stackoverflow.schema import TABLES_BY_NAME, postgres_ddl

    name = f"public.{identifier(table)}"
    operator = GenericTransfer(
        task_id=f"transfer_{table}",
        sql=f"SELECT * FROM {name}" + (' ORDER BY "Id"' if page_size else ""),
        destination_table=name,
        source_conn_id=SOURCE_CONN_ID,
        destination_conn_id=TARGET_CONN_ID,
        preoperator=[f"DROP TABLE IF EXISTS {name}", postgres_ddl(TABLES_BY_NAME[table])],
        page_size=page_size,
    )
    started = time.monotonic()
    operator.execute(context={})
    seconds = time.monotonic() - started
    return {
        "table": table,
        "seconds": round(seconds, 3),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def page_size_for(table: SourceTable, page_size: int | None, *, ram_bytes: int) -> int | None:
    """The page size to use: the one asked for, else pages only when one read would not fit in a quarter of RAM."""
    if page_size:
        return page_size
    needed = MEMORY_PER_BYTE * table.bytes + MEMORY_PER_ROW * table.rows
    return AUTO_PAGE_ROWS if needed > ram_bytes / 4 else None


def generic_transfer(
    server: postgres.LocalServer,
    source_url: str,
    tables: list[SourceTable],
    *,
    work_dir: Path,
    min_rate: float = DEFAULT_MIN_RATE,
    page_size: int | None = None,
) -> RunResult:
    """Every table through ``GenericTransfer``, one after another, each in its own process."""
    target_url = reset_database(server, TARGET_DATABASE)
    work_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(work_dir / "airflow-home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": str(PROJECT_DIR),
        f"AIRFLOW_CONN_{SOURCE_CONN_ID.upper()}": source_url,
        f"AIRFLOW_CONN_{TARGET_CONN_ID.upper()}": target_url,
    }
    timings: list[TableTiming] = []
    extras: dict = {"process_seconds": {}, "peak_mb_by_table": {}, "page_size": {}}
    with TreeSampler(everything) as sampler:
        for t in tables:
            limit = GT_BASE_S + t.rows / min_rate
            out = work_dir / f"{t.name}.json"
            out.unlink(missing_ok=True)
            args = [sys.executable, "-m", "bench.generic_transfer", t.name, "--out", str(out)]
            pages = page_size_for(t, page_size, ram_bytes=os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
            extras["page_size"][t.name] = pages
            args += ["--page-size", str(pages)] if pages else []
            started = time.monotonic()
            with (work_dir / f"{t.name}.log").open("w") as log:
                try:
                    subprocess.run(
                        args, env=env, cwd=PROJECT_DIR, stdout=log, stderr=subprocess.STDOUT, timeout=limit, check=True
                    )
                except subprocess.TimeoutExpired:
                    loaded = row_counts(target_url, [t.name])[t.name] or 0
                    rate = loaded / limit
                    timings.append(
                        TableTiming(
                            t.name,
                            t.rows,
                            t.bytes,
                            None,
                            f"stopped after {limit:.0f} s: {loaded:,} rows, {rate:,.0f} rows/s",
                        )
                    )
                    continue
            extras["process_seconds"][t.name] = round(time.monotonic() - started, 3)
            done = json.loads(out.read_text())
            extras["peak_mb_by_table"][t.name] = round(done["peak_mb"], 1)
            note = f"read in LIMIT/OFFSET pages of {pages:,} rows" if pages else ""
            timings.append(TableTiming(t.name, t.rows, t.bytes, done["seconds"], note))
    unfinished = [t.table for t in timings if t.seconds is None]
    total = None if unfinished else round(sum(t.seconds or 0 for t in timings), 3)
    result = RunResult("generic_transfer", 0, total, timings, extras=extras)
    if unfinished:
        result.ok, result.note = False, f"unfinished (time limit): {', '.join(unfinished)}"
    return check_copy(result, sampler, target_url, [t for t in tables if t.name not in unfinished])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=".venv/bin/python -m bench.generic_transfer", description=__doc__.split("\n")[0]
    )
    parser.add_argument("table")
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON result")
    parser.add_argument("--page-size", type=int, default=None, help="paginate with LIMIT/OFFSET (default: one read)")
    args = parser.parse_args(argv)
    args.out.write_text(json.dumps(transfer(args.table, page_size=args.page_size)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
