"""What one side's checksum pass costs per table, in the canonical form and in the PostgreSQL row hash (ADR 0012).

    .venv/bin/python -m bench.row_hash --scale 1 --repeat 3

On the bench source (built by ``make bench``), times ``PostgresSource.bucket_checksums`` over
every table, once per form and repetition, taken in turns; also a ``count(*) GROUP BY bucket``
pass, the floor any checksum pays to read the table. Both forms are checked to find the same
rows and buckets. Medians go to ``docs/bench/row-hash-scale-<S>.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from bench import databases, machine
from include.replication.postgres.dialect import POSTGRES, qualified, quote
from include.replication.postgres.source import PostgresSource
from include.replication.settings import NulPolicy
from include.replication.verify import CANONICAL, bucket_width
from include.stackoverflow.database import connect
from localdev import postgres

OUT_DIR = Path(__file__).resolve().parent.parent / "docs" / "bench"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    server = postgres.start(databases.SERVER_NAME)
    url, _ = databases.prepare_source(server, scale=args.scale, seed=args.seed, regenerate=False)
    source = PostgresSource(connect(url))
    results = []
    for table in sorted(source.fetch_tables("public"), key=lambda t: -t.approx_rows):
        columns = source.map_columns(table)
        key = table.integer_key
        low, high = source.key_bounds(table, key)
        width = bucket_width(low, high, table.approx_rows)
        row_hash = source.hash_forms(table, columns)[0]
        count_sql = f"SELECT {POSTGRES.bucket(quote(key), width)}, count(*) FROM {qualified(table)} GROUP BY 1"
        runs: dict[str, list[float]] = {"count only": [], CANONICAL: [], "row hash": []}
        answers: dict[str, object] = {}
        for _ in range(args.repeat):
            for name, form in (("count only", None), (CANONICAL, CANONICAL), ("row hash", row_hash)):
                started = time.monotonic()
                if form is None:
                    source.conn.run(count_sql)
                else:
                    sums = source.bucket_checksums(table, columns, key=key, width=width, nul_policy=NulPolicy.STRIP,
                                                   form=form)  # fmt: skip
                    answers[name] = sorted((b, s.rows) for b, s in sums.items())
                runs[name].append(round(time.monotonic() - started, 3))
        medians = {name: statistics.median(seconds) for name, seconds in runs.items()}
        results.append({
            "table": table.name, "rows": table.approx_rows, "bucket_width": width, "row_hash_form": row_hash,
            "median_seconds": medians, "seconds": runs,
            "canonical_over_row_hash": round(medians[CANONICAL] / max(medians["row hash"], 1e-3), 2),
            "same_buckets_and_counts": answers[CANONICAL] == answers["row hash"],
        })  # fmt: skip
        print(f"{table.name:<10} {table.approx_rows:>11,} rows  count {medians['count only']:6.2f} s  "
              f"canonical {medians[CANONICAL]:6.2f} s  row hash {medians['row hash']:6.2f} s  "
              f"({results[-1]['canonical_over_row_hash']}x)")  # fmt: skip
    source.close()
    out = OUT_DIR / f"row-hash-scale-{args.scale:g}.json"
    out.write_text(json.dumps({"command": ".venv/bin/python -m bench.row_hash " + " ".join(argv or sys.argv[1:]),
                               "scale": args.scale, "repeat": args.repeat, "machine": machine.describe(data_dir=server.data_dir,
                               postgres_version=databases.server_version(url), psql=postgres.find_bin_dir() / "psql"),
                               "tables": results}, indent=2) + "\n")  # fmt: skip
    print(f"wrote {out}")
    return 0 if all(r["same_buckets_and_counts"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
