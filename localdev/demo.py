"""``make demo``: start the throwaway PostgreSQL, build a generated source, show what is there.

The streaming DAG is not wired in yet (issue [B]); until then the demo shows the source it will
replicate: every table with its row count, next to the real StackOverflow2010 count at that scale.
"""

from __future__ import annotations

import argparse
import sys
import time

from include.stackoverflow.database import connect, row_counts
from include.stackoverflow.generate import generate
from include.stackoverflow.schema import LOOKUP_TABLES, ROW_COUNTS, TABLES
from localdev import postgres

SERVER_NAME = "demo"
SOURCE_DATABASE = "stackoverflow_source"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="leave the server running afterwards")
    args = parser.parse_args(argv)

    server = postgres.start(SERVER_NAME)
    print(f"PostgreSQL 16 (throwaway) on 127.0.0.1:{server.port}, data in {server.data_dir}")
    try:
        url = postgres.create_database(server, SOURCE_DATABASE)
        started = time.monotonic()
        generate(url, scale=args.scale, seed=args.seed)
        seconds = time.monotonic() - started
        conn = connect(url)
        try:
            counts = row_counts(conn, TABLES, schema="public")
        finally:
            conn.close()
        print(
            f"\nSource database {SOURCE_DATABASE!r}: generated at scale {args.scale}, seed {args.seed}, in {seconds:.1f} s\n"
        )
        print(f"{'table':<12}{'rows':>12}{'StackOverflow2010 x scale':>28}")
        for name, count in sorted(counts.items()):
            expected = ROW_COUNTS[name] if name in LOOKUP_TABLES else round(ROW_COUNTS[name] * args.scale)
            print(f"{name:<12}{count:>12,}{expected:>28,}")
        print(f"{'total':<12}{sum(counts.values()):>12,}")
    finally:
        if args.keep:
            print(f"\nServer left running: {server.url(SOURCE_DATABASE).replace(server.password, '***')}")
            print("Password: python -m localdev.postgres url --name demo; stop it with: make pg-stop")
        else:
            postgres.stop(SERVER_NAME)
            print("\nThrowaway server stopped (make demo KEEP=1 leaves it running).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
