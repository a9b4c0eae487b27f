"""``make bench``: every contender side by side over one generated source, medians, JSON + CSV, plots.

    .venv/bin/python -m bench.run --scale 0.1 --repeat 3

Builds (or reuses) the generated source on the throwaway server ``bench``, measures its tables
once, then runs each repetition of the contenders outside Airflow (the ceiling, its parallel
variant, pgloader, GenericTransfer) with Airflow stopped, then starts one real Airflow and runs
each repetition of both DAGs. The target database is dropped and recreated before every run.
Results go to ``docs/bench/results-scale-<S>.{json,csv}`` (rewritten after every run, so an
interrupted benchmark keeps what it measured) and ``docs/bench/scale-<S>-*.png``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import contenders, dags, databases, machine, plots, report
from bench.generic_transfer import DEFAULT_MIN_RATE, generic_transfer
from bench.results import RunResult
from include.replication.settings import DEFAULT_PARTITION_ROWS
from localdev import postgres

PROJECT_DIR = Path(__file__).resolve().parent.parent
AIRFLOW_HOME = PROJECT_DIR / ".airflow" / "bench-sched"
WORK_DIR = PROJECT_DIR / ".airflow" / "bench-work"
OUT_DIR = PROJECT_DIR / "docs" / "bench"
OUTSIDE_AIRFLOW = ("ceiling", "ceiling_parallel", "pgloader", "generic_transfer")
ALL = (*OUTSIDE_AIRFLOW, *dags.DAG_IDS)
# Time limits grow with the data, so SCALE=1 needs no flags: generous floors plus a per-row budget
# far below any contender's measured rate; they stop a hung run, they do not judge a slow one.
CEILING_S = (60, 10_000)  # per table: seconds + rows / rows-per-second
PGLOADER_S = (300, 5_000)
DAG_S = (600, 2_000)

DESCRIPTIONS = {
    "ceiling": "psql COPY t TO STDOUT | psql COPY t FROM STDIN per table, one table at a time, into an empty twin "
    "table without primary key (created untimed). Data only: no key, no verification. The primary key build is "
    "timed separately (extras.primary_key_seconds), not included.",
    "ceiling_parallel": "the same pipes, as many tables at once as the machine has cores (largest first); reference for the "
    "DAGs, which also copy tables in parallel. Ratios are to the sequential ceiling.",
    "pgloader": "Debian pgloader, LOAD DATABASE PostgreSQL to PostgreSQL with include drop, create tables, create "
    "indexes (the primary keys), reset sequences, foreign keys; default workers/concurrency; one cast rule to work "
    "around dimitri/pgloader#1273. Its schema is not ours: varchar(n) becomes text, NOT NULL and identity are lost. "
    "Total = the pgloader process's wall time; per table = pgloader's own summary.",
    "generic_transfer": "Airflow common-sql GenericTransfer, one table at a time, each in its own Python process; "
    "preoperator creates the table with the source's DDL including its primary key; get_records reads the whole "
    "table into memory (LIMIT/OFFSET pages of 100,000 ordered by Id when that would exceed a quarter of RAM: "
    "SCALE=1: Posts), insert_rows sends executemany batches of 1,000 with a commit each. Timed: execute() only "
    "(not the ~3 s interpreter + Airflow import per table). Total = sum of the tables.",
    "streaming_dag": "our streaming DAG under the real scheduler (LocalExecutor), triggered over the REST API with "
    "verify=checksums: catalog discovery, COPY into a staging table, primary key, checksum verification against "
    "the source, swap, identity alignment. Total = the DAG run's duration (start to end date); per table = the "
    "summarize XCom's seconds (copy, key, verification, swap).",
    "bulk_dag": "our bulk DAG, same conditions, partition_rows ranges staged as files under the bench Airflow home: "
    "extract and load per partition, then verification and swap per table. Per table = extract + load + finish "
    "task seconds summed (task time, not wall).",
}


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _limit(budget: tuple[int, int], rows: int) -> float:
    return budget[0] + rows / budget[1]


def counting_cpu(run: Callable[..., RunResult], *args: Any, **kwargs: Any) -> RunResult:
    """``run(*args, **kwargs)``, its result carrying the CPU seconds the whole machine was busy meanwhile (``machine_cpu_seconds``).

    Divided by the cores, that is the least wall time the same work could take on this machine:
    a contender whose CPU seconds exceed its ceiling's wall time times the cores cannot get there
    by scheduling alone. For a DAG it includes Airflow's own processes, which run all the time.
    """
    before = machine.busy_cpu_seconds()
    result = run(*args, **kwargs)
    result.extras["machine_cpu_seconds"] = round(machine.busy_cpu_seconds() - before, 1)
    return result


def run_outside_airflow(
    name: str, server: postgres.LocalServer, source_url: str, tables: list, args: argparse.Namespace
) -> RunResult:
    """One repetition of a contender that needs no Airflow."""
    rows = sum(t.rows for t in tables)
    if name in ("ceiling", "ceiling_parallel"):
        jobs = 1 if name == "ceiling" else max(2, os.cpu_count() or 2)
        return contenders.ceiling(
            server, source_url, tables, jobs=jobs, timeout=_limit(CEILING_S, max(t.rows for t in tables))
        )
    if name == "pgloader":
        return contenders.pgloader(
            server,
            source_url,
            tables,
            work_dir=WORK_DIR / "pgloader",
            timeout=_limit(PGLOADER_S, rows),
            with_options=args.pgloader_with,
        )
    return generic_transfer(
        server,
        source_url,
        tables,
        work_dir=WORK_DIR / "generic_transfer",
        min_rate=args.gt_min_rate,
        page_size=args.gt_page_size,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=0.1, help="generated source size (1.0 = StackOverflow2010)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each contender; medians are reported")
    parser.add_argument("--contenders", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    parser.add_argument(
        "--pgloader-with",
        default="",
        help="extra pgloader WITH options, e.g. 'workers = 2, concurrency = 1, prefetch rows = 10000'",
    )
    parser.add_argument(
        "--once",
        default="",
        help="comma-separated contenders run in the first repetition only (GenericTransfer takes ~10 min at SCALE=1)",
    )
    parser.add_argument("--regenerate", action="store_true", help="rebuild the source even if it exists")
    parser.add_argument("--partition-rows", type=int, default=DEFAULT_PARTITION_ROWS, help="bulk DAG partition size")
    parser.add_argument(
        "--verify", default="checksums", choices=["checksums", "counts", "off"], help="the DAGs' verify Param"
    )
    parser.add_argument(
        "--gt-min-rate", type=float, default=DEFAULT_MIN_RATE, help="GenericTransfer: rows/s budget per table"
    )
    parser.add_argument(
        "--gt-page-size",
        type=int,
        default=None,
        help="GenericTransfer: LIMIT/OFFSET pages for every table (default: one read unless too big for RAM)",
    )
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    chosen = [c for c in ALL if c in args.contenders.split(",")]
    sys.stdout.reconfigure(line_buffering=True)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` and `timeout` stop Airflow too, as Ctrl-C does

    server = postgres.start(databases.SERVER_NAME)
    began = time.monotonic()
    source_url, built = databases.prepare_source(server, scale=args.scale, seed=args.seed, regenerate=args.regenerate)
    print(
        f"source {databases.source_database(args.scale)}: {'generated' if built else 'reused'} in {time.monotonic() - began:.1f} s"
    )
    tables = databases.measure_source(source_url)
    print(
        f"{sum(t.rows for t in tables):,} rows, {sum(t.bytes for t in tables) / 2**20:,.1f} MB of COPY text in {len(tables)} tables"
    )
    psql = postgres.find_bin_dir() / "psql"
    document: dict[str, Any] = {
        "command": ".venv/bin/python -m bench.run " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "scale": args.scale,
        "seed": args.seed,
        "repeat": args.repeat,
        "once": sorted(set(args.once.split(",")) - {""}),
        "pgloader_with": args.pgloader_with,
        "machine": machine.describe(
            data_dir=server.data_dir, postgres_version=databases.server_version(source_url), psql=psql
        ),
        "source": [t.__dict__ for t in tables],
        "contenders": {c: DESCRIPTIONS[c] for c in chosen},
        "dag_conf": {"verify": args.verify, "partition_rows": args.partition_rows},
        "runs": [],
    }
    stem = args.out_dir / f"results-scale-{args.scale:g}"
    runs: list[RunResult] = []

    def record(result: RunResult, repetition: int) -> None:
        result.repetition = repetition
        result.extras["load_average_after"] = os.getloadavg()  # other work on the machine skews a run
        runs.append(result)
        document["runs"] = [r.to_dict() for r in runs]
        report.write(stem, document, report.medians(runs, tables))
        seconds = "did not finish" if result.seconds is None else f"{result.seconds:.1f} s"
        print(f"[{repetition}/{args.repeat}] {result.contender:<17} {seconds:>10}  peak {result.peak_mb:.0f} MB"
              + ("" if result.ok else f"  FAILED: {result.note}"))  # fmt: skip

    once = set(args.once.split(",")) - {""}

    def due(name: str, repetition: int) -> bool:
        return repetition == 1 or name not in once

    for repetition in range(1, args.repeat + 1):
        for name in (c for c in chosen if c in OUTSIDE_AIRFLOW and due(c, repetition)):
            record(counting_cpu(run_outside_airflow, name, server, source_url, tables, args), repetition)
    dag_names = [c for c in chosen if c in dags.DAG_IDS]
    if dag_names:
        conf_base: dict[str, Any] = {"verify": args.verify}
        staging = (AIRFLOW_HOME / "staging").resolve().as_uri()
        limit = _limit(DAG_S, sum(t.rows for t in tables))
        with dags.running_airflow(server, source_url, home=AIRFLOW_HOME) as airflow:
            print(f"Airflow up at {airflow.api_url} (LocalExecutor); logs in {AIRFLOW_HOME}")
            for repetition in range(1, args.repeat + 1):
                for name in (n for n in dag_names if due(n, repetition)):
                    conf = conf_base | (
                        {"partition_rows": args.partition_rows, "staging_url": staging} if name == "bulk_dag" else {}
                    )
                    run = counting_cpu(dags.run_dag, airflow, server, name, tables, conf=conf, timeout=limit)
                    record(run, repetition)

    rows = report.medians(runs, tables)
    written = report.write(stem, document, rows)
    written += plots.plot(
        rows,
        out_dir=args.out_dir,
        prefix=f"scale-{args.scale:g}",
        title=f"scale {args.scale:g}, {sum(t.rows for t in tables):,} rows",
    )
    print("\nMedians (TOTAL):\n" + report.text_table(rows))
    print(
        "\nwritten: "
        + ", ".join(str(p.relative_to(PROJECT_DIR)) if p.is_relative_to(PROJECT_DIR) else str(p) for p in written)
    )
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
