"""The SQL Server source side, measured over TDS: reading a table, and its checksums on the server or the client.

Against the TDS server named by ``--url`` (SQL Server, or Babelfish on this machine), on a
generated StackOverflow source built once per scale in database ``bench_source_<scale>``:

- ``read``: the copy's source half, ``SqlServerSource.stream_rows`` (pymssql + the COPY encoder)
  into a sink that only counts bytes;
- ``checksum on server``: the whole contract in T-SQL (needs UTF-8 collations and CONVERT style 2;
  recorded as an error where the server cannot run it);
- ``checksum by client``: the server's canonical values hashed by the client (SQL Server 2016/2017,
  Babelfish);
- ``checksum of target``: the same table's checksums in the PostgreSQL target (copied once, first);
- ``<datetime column> as read`` / ``as canonical text``: one datetime column fetched as it is, and as
  the T-SQL canonical text the client-side checksum asks the server for.

Medians of ``--repeat`` runs, taken in turns; JSON in ``docs/bench/tds-source-scale-<scale>.json``.
ADR 0005 reads it.

    .venv/bin/python -m bench.tds_source --url mssql://user:password@127.0.0.1:1433/master --scale 0.1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench import databases
from include.replication.load import replicate_table
from include.replication.models import TableName
from include.replication.mssql import checksums
from include.replication.mssql.capabilities import SQL_SERVER_2019, Capabilities, probe
from include.replication.mssql.dialect import fetch_all, qualified, quote, run
from include.replication.mssql.source import SqlServerSource
from include.replication.plan import TableJob
from include.replication.postgres.target import PostgresTarget
from include.replication.settings import NulPolicy, ReplicationSettings, VerifyMode
from include.replication.verify import bucket_width
from include.stackoverflow import sqlserver
from include.stackoverflow.database import connect
from include.stackoverflow.generate import Plan
from localdev import postgres

PROJECT_DIR = Path(__file__).resolve().parent.parent
CLIENT_SIDE = Capabilities(utf8_collation=False, hex_style=False)
TARGET_DATABASE = "bench_tds_target"


def source_url(url: str, database: str) -> str:
    """``url`` pointing at ``database``."""
    return urlunsplit(urlsplit(url)._replace(path="/" + database))


def tds_parser(doc: str) -> argparse.ArgumentParser:
    """The arguments every TDS bench takes: the server, the generated source's scale and seed, tables, repetitions."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    url = os.environ.get("REPLICATION_TEST_MSSQL_URL")
    parser.add_argument("--url", default=url, required=not url,
                        help="mssql://user:pw@host:port/master (default: REPLICATION_TEST_MSSQL_URL)")  # fmt: skip
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--tables", default="Votes,Posts")
    parser.add_argument("--repeat", type=int, default=3)
    return parser


def bench_source(args: argparse.Namespace) -> str:
    """The generated source on ``args.url`` at ``args.scale``, built unless it exists, saying which; its URL."""
    started = time.perf_counter()
    url, built = prepare_source(args.url, scale=args.scale, seed=args.seed)
    print(f"source {urlsplit(url).path[1:]}: {'built' if built else 'reused'} ({time.perf_counter() - started:.0f} s)")
    return url


def prepare_source(url: str, *, scale: float, seed: int) -> tuple[str, bool]:
    """The generated source database's URL, and whether it was (re)built now (its row counts decide)."""
    database = databases.source_database(scale)
    admin = sqlserver.connect_url(url)
    try:
        run(admin, f"IF DB_ID(N'{database}') IS NULL CREATE DATABASE {quote(database)}")
    finally:
        admin.close()
    conn = sqlserver.connect_url(source_url(url, database))
    try:
        expected = Plan.for_scale(scale, seed).rows
        try:
            counts = sqlserver.row_counts(conn)
        except Exception:  # the tables do not exist yet
            counts = {}
        if all(counts.get(name) == rows for name, rows in expected.items()):
            return source_url(url, database), False
        sqlserver.generate(conn, scale=scale, seed=seed)
    finally:
        conn.close()
    return source_url(url, database), True


def timed(run_once: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = run_once()
    return time.perf_counter() - started, result


def measure(url: str, target_url: str, table_name: str, repeat: int) -> dict[str, Any]:
    """Every measurement of one table, ``repeat`` times in turns; medians and the raw seconds."""
    conn = sqlserver.connect_url(url)
    target = PostgresTarget(connect(target_url))
    try:
        source = SqlServerSource(conn)
        table = next(t for t in source.fetch_tables("dbo") if t.name == table_name)
        columns = source.map_columns(table)
        job = TableJob(table, columns, ReplicationSettings(verify=VerifyMode.OFF))
        copy_seconds, report = timed(lambda: replicate_table(job, source=source, target=target))
        key = table.integer_key
        low, high = source.key_bounds(table, key)
        rows = report.stats.rows
        width = bucket_width(low, high, rows)
        args = {"key": key, "width": width, "nul_policy": NulPolicy.STRIP}
        counted = [0]

        def read() -> int:
            counted[0] = 0
            return source.stream_rows(table, columns, lambda b: counted.__setitem__(0, counted[0] + len(b)),
                                      nul_policy=NulPolicy.STRIP).rows  # fmt: skip

        stamp = next((c for c in table.columns if c.data_type == "datetime"), None)

        def scan(expression: str) -> int:
            """Fetch one expression of every row: what the server spends on it, through the driver."""
            return sum(1 for _ in source._rows(table, f"SELECT {expression} FROM {qualified(table)}", {}))

        runs: dict[str, Callable[[], Any]] = {
            "read": read,
            "checksum on server": lambda: SqlServerSource(conn, SQL_SERVER_2019).bucket_checksums(
                table, columns, **args
            ),
            "checksum by client": lambda: SqlServerSource(conn, CLIENT_SIDE).bucket_checksums(table, columns, **args),
            "checksum of target": lambda: target.bucket_checksums(TableName("public", table_name), columns, **args),
        }
        if stamp is not None:  # how much of the client-side checksum is the server's datetime-to-text conversion
            col = quote(stamp.name)
            runs[f"{stamp.name} as read"] = lambda: scan(col)
            runs[f"{stamp.name} as canonical text"] = lambda: scan(checksums.canonical_value(stamp, col))
        seconds: dict[str, list[float]] = {name: [] for name in runs}
        errors: dict[str, str] = {}
        results: dict[str, Any] = {}
        for _ in range(repeat):
            for name, run_once in runs.items():
                if name in errors:
                    continue
                try:
                    elapsed, results[name] = timed(run_once)
                except Exception as exc:  # the server cannot run this variant: recorded, not fatal
                    errors[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                    continue
                seconds[name].append(round(elapsed, 3))
        agree = {
            name: results[name] == results["checksum of target"]
            for name in ("checksum on server", "checksum by client")
            if name in results and "checksum of target" in results
        }
        return {
            "table": table_name,
            "rows": rows,
            "copy_text_bytes": counted[0],
            "copy_seconds_once": round(copy_seconds, 3),
            "median_seconds": {name: statistics.median(s) for name, s in seconds.items() if s},
            "seconds": seconds,
            "errors": errors,
            "checksums_agree_with_target": agree,
        }
    finally:
        conn.close()
        target.close()


def markdown(document: dict[str, Any]) -> str:
    """The medians as a table: seconds, and rows/s."""
    names = ["read", "checksum on server", "checksum by client", "checksum of target"]
    extra = sorted({name for t in document["tables"] for name in t["median_seconds"]} - set(names))
    names += extra
    lines = [f"| table | rows | {' | '.join(names)} |", "|---|---:|" + "---:|" * len(names)]
    for t in document["tables"]:
        cells = []
        for name in names:
            s = t["median_seconds"].get(name)
            cells.append(f"{s:.2f} s ({t['rows'] / s:,.0f} rows/s)" if s else "cannot run here")
        lines.append(f"| {t['table']} | {t['rows']:,} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = tds_parser(__doc__)
    args = parser.parse_args(argv)
    url = bench_source(args)
    conn = sqlserver.connect_url(url)
    try:
        capabilities = probe(conn)
        version = run_version(conn)
    finally:
        conn.close()
    server = postgres.start(databases.SERVER_NAME)
    target_url = databases.reset_database(server, TARGET_DATABASE)
    tables = [measure(url, target_url, name, args.repeat) for name in args.tables.split(",")]
    document = {
        "scale": args.scale,
        "seed": args.seed,
        "repeat": args.repeat,
        "server": version,
        "capabilities": vars(capabilities),
        "tables": tables,
    }
    out = PROJECT_DIR / "docs" / "bench" / f"tds-source-scale-{args.scale:g}.json"
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(markdown(document))
    for t in tables:
        for name, error in t["errors"].items():
            print(f"{t['table']}, {name}: {error}")
        print(f"{t['table']}: checksums agree with the target's: {t['checksums_agree_with_target']}")
    print(f"wrote {out.relative_to(PROJECT_DIR)}")
    return 0


def run_version(conn: Any) -> str:
    """``@@VERSION``'s first line."""
    return str(fetch_all(conn, "SELECT CONVERT(nvarchar(300), @@VERSION)")[0][0]).splitlines()[0]


if __name__ == "__main__":
    sys.exit(main())
