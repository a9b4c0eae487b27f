"""The plan PostgreSQL picks for one table's bucket-checksum query, and the in-memory alternative.

    .venv/bin/python -m bench.explain_checksum --scale 1 --table Votes

Runs ``EXPLAIN (ANALYZE, BUFFERS)`` of the verification query on the bench source (built by
``make bench``), then times it as planned and with ``enable_sort = off`` (which leaves a serial,
in-memory HashAggregate), checking both give the same buckets. Prints the plan and the times.
"""

from __future__ import annotations

import argparse
import sys
import time

from bench import databases
from include.replication.postgres.checksums import bucket_checksums_sql
from include.replication.postgres.source import PostgresSource
from include.replication.verify import bucket_width
from include.stackoverflow.database import connect
from localdev import postgres


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--table", default="Votes")
    args = parser.parse_args(argv)
    server = postgres.start(databases.SERVER_NAME)
    url, _ = databases.prepare_source(server, scale=args.scale, seed=args.seed, regenerate=False)
    source = PostgresSource(connect(url))
    conn = source.conn
    table = next(t for t in source.fetch_tables("public") if t.name == args.table)
    columns = source.map_columns(table)
    low, high = source.key_bounds(table, "Id")
    width = bucket_width(low, high, table.approx_rows)
    query, _ = bucket_checksums_sql(table, columns, key="Id", width=width)
    print("\n".join(row[0] for row in conn.run("EXPLAIN (ANALYZE, BUFFERS) " + query)))
    started = time.monotonic()
    planned = conn.run(query)
    planned_s = time.monotonic() - started
    conn.run("SET enable_sort = off")
    started = time.monotonic()
    hashed = conn.run(query)
    hashed_s = time.monotonic() - started
    conn.run("RESET enable_sort")
    same = sorted(map(tuple, planned)) == sorted(map(tuple, hashed))
    print(f"\n{args.table} at scale {args.scale:g}, bucket width {width}: as planned {planned_s:.1f} s, "
          f"in-memory HashAggregate {hashed_s:.1f} s, same buckets: {same}")  # fmt: skip
    conn.close()
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
