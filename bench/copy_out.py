"""Reading ``COPY ... TO STDOUT`` three ways: ``psql``, pg8000's per-row stream, our block reader.

    .venv/bin/python -m bench.copy_out --scale 0.1 --repeat 5

Uses the bench source built by ``make bench`` (it builds it when missing). Each table is read to a
byte counter, every way ``--repeat`` times; medians of wall seconds go to
``docs/bench/copy-out-scale-<S>.json`` with the machine description.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import databases, machine
from include.replication.postgres.copy_out import copy_out
from include.stackoverflow.database import connect
from localdev import postgres

OUT_DIR = Path(__file__).resolve().parent.parent / "docs" / "bench"


class _Count:
    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self.bytes += len(data)

    __call__ = write


def _timed(read) -> tuple[float, int]:
    counter = _Count()
    started = time.monotonic()
    read(counter)
    return time.monotonic() - started, counter.bytes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    server = postgres.start(databases.SERVER_NAME)
    url, _ = databases.prepare_source(server, scale=args.scale, seed=args.seed, regenerate=False)
    psql = postgres.find_bin_dir() / "psql"
    conn = connect(url)
    results = []
    for table in databases.TABLE_NAMES:
        sql = f'COPY "{table}" TO STDOUT'
        ways = {
            "psql": lambda sink, sql=sql: sink(
                subprocess.run([psql, "-X", "-q", "-d", url, "-c", sql], check=True, capture_output=True).stdout
            ),
            "pg8000_stream": lambda sink, sql=sql: conn.run(sql, stream=sink),
            "copy_out": lambda sink, sql=sql: copy_out(conn, sql, sink),
        }
        timings: dict[str, list[float]] = {name: [] for name in ways}
        sizes = set()
        for _ in range(args.repeat):
            for name, read in ways.items():
                seconds, size = _timed(read)
                timings[name].append(seconds)
                sizes.add(size)
        if len(sizes) != 1:
            raise SystemExit(f"{table}: the three readers returned different byte counts {sorted(sizes)}")
        row = {"table": table, "bytes": sizes.pop()} | {
            f"{name}_s": round(statistics.median(values), 3) for name, values in timings.items()
        }
        results.append(row)
        print(
            f"{table:<10} {row['bytes'] / 2**20:8.1f} MB  psql {row['psql_s']:6.2f} s  "
            f"pg8000 stream {row['pg8000_stream_s']:6.2f} s  copy_out {row['copy_out_s']:6.2f} s"
        )
    conn.close()
    document = {
        "command": ".venv/bin/python -m bench.copy_out " + " ".join(argv if argv is not None else sys.argv[1:]),
        "scale": args.scale,
        "repeat": args.repeat,
        "machine": machine.describe(
            data_dir=server.data_dir, postgres_version=databases.server_version(url), psql=psql
        ),
        "note": "psql time includes starting psql (~10 ms) and holding the whole table in memory",
        "tables": results,
    }
    out = OUT_DIR / f"copy-out-scale-{args.scale:g}.json"
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
