"""Measure a replication DAG end to end at a given scale, as `airflow dags test` runs it.

    .venv/bin/python -m bench.run_dag --dag streaming|bulk --scale 0.1 [--partition-rows 500000]
        [--seed 42] [--read-mode copy|rows] [--reuse-source]

Builds a generated source on the throwaway server "bench" (unless --reuse-source and it exists),
runs the DAG with verify=checksums into a fresh target database, and prints the DAG's own
run summary and verification table (taken from its log) plus the wall time of the run. Note:
`dags test` runs every task in one process, so "peak MB" is that process's high-water mark so
far, not a per-task figure (the real-scheduler benchmark of issue [D] measures per task).
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from include.replication.settings import DEFAULT_PARTITION_ROWS
from include.stackoverflow.database import connect
from include.stackoverflow.generate import generate
from localdev import postgres
from localdev.demo import PROJECT_DIR, airflow_environment, run_dags_test

DAG_IDS = {
    "streaming": "replicate_stackoverflow_to_postgres_parallel",
    "bulk": "replicate_stackoverflow_to_postgres_bulk_parallel",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--read-mode", default="copy", choices=["copy", "rows"])
    parser.add_argument("--reuse-source", action="store_true")
    parser.add_argument("--dag", default="streaming", choices=sorted(DAG_IDS))
    parser.add_argument("--partition-rows", type=int, default=DEFAULT_PARTITION_ROWS, help="bulk DAG only")
    args = parser.parse_args()

    server = postgres.start("bench")
    tag = str(args.scale).replace(".", "_")
    source_url = postgres.create_database(server, f"gen_scale_{tag}")
    admin = connect(server.url())
    admin.run(f"DROP DATABASE IF EXISTS bench_target_{tag} WITH (FORCE)")
    admin.close()
    target_url = postgres.create_database(server, f"bench_target_{tag}")
    conn = connect(source_url)
    have = conn.run("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")[0][0]
    conn.close()
    if not (args.reuse_source and have >= 9):
        started = time.monotonic()
        generate(source_url, scale=args.scale, seed=args.seed)
        print(f"source generated in {time.monotonic() - started:.1f} s")
    home = PROJECT_DIR / ".airflow" / "bench"
    home.mkdir(parents=True, exist_ok=True)
    log_file = home / f"{args.dag}_scale_{tag}_{args.read_mode}.log"
    conf = {"verify": "checksums", "source_read_mode": args.read_mode}
    if args.dag == "bulk":
        conf.update(partition_rows=args.partition_rows, staging_url=(home / "staging").resolve().as_uri())
    seconds = run_dags_test(DAG_IDS[args.dag], airflow_environment(source_url, target_url, home), log_file, conf)
    text = log_file.read_text()
    for title in ("Verification:", "Run summary:"):
        block = text[text.rindex(title) :].split("\n")
        print(title)
        rows = (re.sub(r"\s+\[include\.replication.*$", "", line) for line in block[1:12])
        print("\n".join(line for line in rows if re.match(r"^(table|public\.)", line)))
    size = connect(target_url).run("SELECT pg_size_pretty(pg_database_size(current_database()))")[0][0]
    print(
        f"{args.dag} DAG, scale {args.scale}, read mode {args.read_mode}: run {seconds:.1f} s wall "
        f"(airflow dags test), target size {size}"
    )
    print(f"log: {Path(log_file).relative_to(PROJECT_DIR)}")


if __name__ == "__main__":
    main()
