"""A full copy against ``load_mode=sync``: with nothing changed, and after changes to Votes.

    .venv/bin/python -m bench.sync --scale 0.1 --repeat 3

On the throwaway server ``bench``: the generated source of ``bench.run`` (built once per scale),
cloned into ``bench_sync_source`` (``CREATE DATABASE ... TEMPLATE``, so the shared source is never
written to), and ``bench_sync_target``. Each repetition: a full copy of the nine tables
(``replace``, the engine called directly, one table after another, ``verify=checksums``), a sync
with nothing changed, then 1% of Votes updated, 0.1% deleted and 1,000 rows inserted at the end,
and a sync again. Every sync is followed by an independent check (``count`` and an ordered
``md5`` of each table on both sides). Medians go to ``docs/bench/sync-scale-<S>.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from pg8000.native import identifier

from bench import databases, machine
from include.replication.load import replicate_table
from include.replication.plan import TableJob
from include.replication.postgres.source import PostgresSource
from include.replication.postgres.target import PostgresTarget
from include.replication.settings import LoadMode, ReplicationSettings
from include.stackoverflow.database import connect
from localdev import postgres

OUT_DIR = Path(__file__).resolve().parent.parent / "docs" / "bench"
SOURCE, TARGET = "bench_sync_source", "bench_sync_target"


def copy_all(source_url: str, target_url: str, mode: LoadMode) -> dict[str, Any]:
    """Every table with ``mode``; per table seconds, rows moved and keys re-copied, and the total."""
    source, target = PostgresSource(connect(source_url)), PostgresTarget(connect(target_url))
    tables: dict[str, Any] = {}
    started = time.monotonic()
    try:
        for table in source.fetch_tables("public"):
            job = TableJob(table, source.map_columns(table), ReplicationSettings(load_mode=mode))
            stats = replicate_table(job, source=source, target=target).stats
            tables[table.name] = {"seconds": stats.seconds, "rows": stats.rows, "recopied_keys": stats.recopied_keys,
                                  "phases": stats.phases}  # fmt: skip
    finally:
        source.close()
        target.close()
    return {"seconds": round(time.monotonic() - started, 3), "tables": tables}


def change_votes(url: str) -> dict[str, int]:
    """1% of Votes updated and 0.1% deleted, spread over the keys; 1,000 rows inserted past the end."""
    conn = connect(url)
    try:
        total = conn.run('SELECT count(*) FROM "Votes"')[0][0]
        conn.run('DELETE FROM "Votes" WHERE "Id" IN (SELECT "Id" FROM "Votes" ORDER BY md5("Id"::text || \'d\') '
                 "LIMIT :n)", n=total // 1000)  # fmt: skip
        deleted = conn.row_count
        conn.run('UPDATE "Votes" SET "BountyAmount" = coalesce("BountyAmount", 0) + 7 WHERE "Id" IN '
                 '(SELECT "Id" FROM "Votes" ORDER BY md5("Id"::text) LIMIT :n)', n=total // 100)  # fmt: skip
        updated = conn.row_count
        conn.run('INSERT INTO "Votes" ("Id", "PostId", "UserId", "BountyAmount", "VoteTypeId", "CreationDate") '
                 "OVERRIDING SYSTEM VALUE SELECT m + g, 1, NULL, NULL, 2, TIMESTAMP '2011-01-01' "
                 'FROM (SELECT max("Id") AS m FROM "Votes") AS top, generate_series(1, 1000) AS g')  # fmt: skip
        return {"rows": total, "updated": updated, "deleted": deleted, "inserted": conn.row_count}
    finally:
        conn.close()


def fingerprints(url: str) -> dict[str, tuple[int, str]]:
    """Per table (count, md5 of the rows' md5s in key order): the check that is not the engine's own.

    Each row's md5 first: all of Posts' text in one string would pass PostgreSQL's 1 GB limit.
    """
    conn = connect(url)
    try:
        conn.run("SET DateStyle = 'ISO, YMD'")
        return {
            name: tuple(
                conn.run(
                    f"SELECT count(*), md5(coalesce(string_agg(md5(t::text), '' ORDER BY t.\"Id\"), '')) "
                    f"FROM {identifier(name)} t"
                )[0]
            )  # fmt: skip
            for name in databases.TABLE_NAMES
        }
    finally:
        conn.close()


def fresh(server: postgres.LocalServer, name: str, template: str | None = None) -> str:
    admin = connect(server.url())
    try:
        admin.run(f"DROP DATABASE IF EXISTS {identifier(name)} WITH (FORCE)")
        admin.run(f"CREATE DATABASE {identifier(name)}" + (f" TEMPLATE {identifier(template)}" if template else ""))
    finally:
        admin.close()
    return server.url(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m bench.sync", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)

    server = postgres.start(databases.SERVER_NAME)
    template_url, built = databases.prepare_source(server, scale=args.scale, seed=args.seed, regenerate=False)
    print(f"source {databases.source_database(args.scale)} ({'generated now' if built else 'reused'})", flush=True)
    runs = []
    for repetition in range(1, args.repeat + 1):
        source_url = fresh(server, SOURCE, template=databases.source_database(args.scale))
        target_url = fresh(server, TARGET)
        run: dict[str, Any] = {"full": copy_all(source_url, target_url, LoadMode.REPLACE)}
        run["sync_unchanged"] = copy_all(source_url, target_url, LoadMode.SYNC)
        assert fingerprints(source_url) == fingerprints(target_url), "sync with nothing changed: not equal"
        run["changes"] = change_votes(source_url)
        run["sync_changed"] = copy_all(source_url, target_url, LoadMode.SYNC)
        assert fingerprints(source_url) == fingerprints(target_url), "sync after changes: not equal"
        runs.append(run)
        print(f"run {repetition}: full {run['full']['seconds']:.2f} s, sync unchanged "
              f"{run['sync_unchanged']['seconds']:.2f} s, sync after changes {run['sync_changed']['seconds']:.2f} s "
              f"(Votes: {run['sync_changed']['tables']['Votes']['recopied_keys']:,} keys re-copied)", flush=True)  # fmt: skip

    def median(kind: str, table: str | None = None) -> float:
        return statistics.median(r[kind]["tables"][table]["seconds"] if table else r[kind]["seconds"] for r in runs)

    kinds = ("full", "sync_unchanged", "sync_changed")
    result = {
        "scale": args.scale,
        "repeat": args.repeat,
        "machine": machine.describe(data_dir=server.data_dir, postgres_version="16", psql=Path("/usr/bin/psql")),
        "median_seconds": {k: median(k) for k in kinds},
        "median_seconds_per_table": {t: {k: median(k, t) for k in kinds} for t in databases.TABLE_NAMES},
        "runs": runs,
    }
    out = args.out_dir / f"sync-scale-{args.scale:g}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["median_seconds"]), f"-> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
