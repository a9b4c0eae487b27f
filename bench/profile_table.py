"""Where one table's streaming copy spends its time: per phase, wall and CPU of every process involved.

    .venv/bin/python -m bench.profile_table --scale 1 --table Posts [--py-spy docs/bench/posts.svg]

Replicates ``--table`` from the bench source (built by ``make bench``) into a scratch database
with ``replicate_table`` (the streaming DAG's task body, without Airflow), and splits it into the
phases the task runs: copy (source ``COPY TO`` → spool → target ``COPY FROM``), primary key,
verification (the source's and the target's checksum queries, which run at the same time),
and the rest (staging table, swap, identity, ANALYZE). For each phase: wall seconds and the CPU seconds of this Python process, the source
backend and the target backend (from ``/proc/<pid>/stat``; the server runs on this machine).
That says whether a phase waits on Python or on PostgreSQL. ``--py-spy`` also records this
process with py-spy (``pip install py-spy``) as a flame graph. Results go to
``docs/bench/profiles/profile-<table>-scale-<S>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import databases, machine
from include.replication import load
from include.replication.copy import spool as streaming
from include.replication.load import replicate_table
from include.replication.plan import TableJob
from include.replication.postgres.source import PostgresSource
from include.replication.postgres.target import PostgresTarget
from include.replication.report import peak_memory_mb
from include.replication.settings import ReplicationSettings, VerifyMode
from include.stackoverflow.database import connect
from localdev import postgres

OUT_DIR = Path(__file__).resolve().parent.parent / "docs" / "bench" / "profiles"
SCRATCH_DATABASE = "bench_profile_target"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class PhaseClock:
    """Wall and CPU seconds per phase for this process and the two backends."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.phases: list[dict[str, Any]] = []

    @contextmanager
    def phase(self, name: str):
        before = {who: cpu_seconds(pid) for who, pid in self.pids.items()}
        started = time.monotonic()
        try:
            yield
        finally:
            after = {who: cpu_seconds(pid) for who, pid in self.pids.items()}
            row = {"phase": name, "wall_s": round(time.monotonic() - started, 2)}
            row |= {f"{who}_cpu_s": round(after[who] - before[who], 2) for who in self.pids}
            self.phases.append(row)


def instrument(clock: PhaseClock, target: PostgresTarget) -> None:
    """Time the phases inside replicate_table by wrapping the functions it calls in order."""

    def timed(name: str, function):
        def wrapper(*args, **kwargs):
            with clock.phase(name):
                return function(*args, **kwargs)

        return wrapper

    load.copy_rows = timed("copy", load.copy_rows)
    target.add_primary_key = timed("primary key", target.add_primary_key)
    load.prove = timed("verification (both sides at once)", load.prove)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--table", default="Posts")
    parser.add_argument("--verify", default="checksums", choices=["checksums", "counts", "off"])
    parser.add_argument("--buffer-mb", type=int, default=256, help="the spool budget (the DAGs' buffer_mb)")
    parser.add_argument(
        "--default-malloc", action="store_true", help="leave glibc's dynamic mmap threshold (the old behaviour)"
    )
    parser.add_argument("--py-spy", type=Path, help="also record a py-spy flame graph (SVG) of this process here")
    args = parser.parse_args(argv)

    server = postgres.start(databases.SERVER_NAME)
    source_url, _ = databases.prepare_source(server, scale=args.scale, seed=args.seed, regenerate=False)
    admin = connect(server.url())
    admin.run(f"DROP DATABASE IF EXISTS {SCRATCH_DATABASE} WITH (FORCE)")
    admin.close()
    target_url = postgres.create_database(server, SCRATCH_DATABASE)
    source, target = PostgresSource(connect(source_url)), PostgresTarget(connect(target_url))
    table = next(t for t in source.fetch_tables("public") if t.name == args.table)
    settings = ReplicationSettings(verify=VerifyMode(args.verify), buffer_mb=args.buffer_mb)
    job = TableJob(table, source.map_columns(table), settings)
    pids = {
        "python": os.getpid(),
        "source_backend": source.conn.run("SELECT pg_backend_pid()")[0][0],
        "target_backend": target.conn.run("SELECT pg_backend_pid()")[0][0],
    }
    if args.default_malloc:
        streaming.tune_malloc = lambda: False
    rss_before = peak_memory_mb()
    clock = PhaseClock(pids)
    instrument(clock, target)
    spy = None
    if args.py_spy:
        if not shutil.which("py-spy"):
            raise SystemExit("--py-spy needs py-spy on PATH (pip install py-spy)")
        spy = subprocess.Popen(
            ["py-spy", "record", "--pid", str(os.getpid()), "--threads", "--idle", "-o", str(args.py_spy), "-r", "50"]
        )
        time.sleep(1)
    with clock.phase("total"):
        report = replicate_table(job, source=source, target=target)
    total = clock.phases[-1]
    measured = clock.phases[:-1]
    rest = {"phase": "staging table, swap, identity, ANALYZE"}
    for key in total:
        if key != "phase":
            rest[key] = round(total[key] - sum(p[key] for p in measured), 2)
    clock.phases.insert(len(measured), rest)
    if spy:
        spy.send_signal(2)
        spy.wait(60)
    rss_peak = peak_memory_mb()
    print(
        f"peak RSS of this process: {rss_before:.0f} MB before the copy, {rss_peak:.0f} MB after "
        f"(buffer_mb {args.buffer_mb}; spilled {report.stats.spilled_bytes / 2**20:.0f} MB)"
    )
    verification = report.verification
    if not verification.ok:
        raise SystemExit(f"verification failed:\n{verification.describe()}")
    for row in clock.phases:
        print(
            f"{row['phase']:<36}{row['wall_s']:>8.1f} s wall   CPU: python {row['python_cpu_s']:6.1f} s, "
            f"source backend {row['source_backend_cpu_s']:6.1f} s, target backend {row['target_backend_cpu_s']:6.1f} s"
        )
    document = {
        "command": ".venv/bin/python -m bench.profile_table " + " ".join(argv if argv is not None else sys.argv[1:]),
        "scale": args.scale,
        "table": args.table,
        "rows": report.stats.rows,
        "bytes": report.stats.bytes,
        "verify": args.verify,
        "buffer_mb": args.buffer_mb,
        "default_malloc": args.default_malloc,
        "peak_rss_mb_before": round(rss_before, 1),
        "peak_rss_mb_after": round(rss_peak, 1),
        "spilled_mb": round(report.stats.spilled_bytes / 2**20, 1),
        "machine": machine.describe(
            data_dir=server.data_dir,
            postgres_version=databases.server_version(source_url),
            psql=postgres.find_bin_dir() / "psql",
        ),
        "note": "verification CPU includes both backends' checksum queries, run at the same time; "
        "a backend's CPU includes the server's own work for it (TOAST reads, hashing), not the OS page cache",
        "phases": clock.phases,
    }
    variant = ("" if args.verify == "checksums" else f"-verify-{args.verify}") + (
        "-default-malloc" if args.default_malloc else ""
    )
    out = OUT_DIR / f"profile-{args.table}-scale-{args.scale:g}{variant}.json"
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"written: {out}")
    source.close()
    target.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
