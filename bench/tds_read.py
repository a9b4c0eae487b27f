"""The SQL Server read path against ``freebcp ... queryout``: the drivers' raw fetch, and ours, over TDS.

Against the TDS server named by ``--url`` (SQL Server, or Babelfish on this machine), on the
generated StackOverflow source of ``bench.tds_source`` (database ``bench_source_<scale>``, built
once), each table is read whole, in key order, by every contender, ``--repeat`` times in turns:

- ``freebcp queryout``: FreeTDS's bcp (Debian ``freetds-bin``) writing character format to a file;
  the reference rate. Its query is ``SELECT * ... ORDER BY`` the key: freebcp's ``SET FMTONLY ON``
  probe spins forever on Babelfish for any other query, and ``*`` reads what ours reads for these
  tables (no column of theirs is converted on the server). Its output is not COPY text.
- ``<driver> fetch``: the driver's rows for our SELECT, nothing done with them (pymssql tuples,
  mssql-python ``Row`` objects; mssql-python's Arrow batches where pyarrow is installed);
- ``ours, <driver>``: ``SqlServerSource.stream_rows`` over that driver's connection (the project's
  ``connect_mssql`` / ``connect_mssql_python``): rows to COPY text bytes, into a sink that counts
  them and hashes them, so the JSON shows whether every path wrote the same bytes. Over
  mssql-python a table without text (Votes) goes column by column (``mssql/columnar.py``);
- ``mssql-python, row by row``: the row path on mssql-python whatever the table (``RowEncoder``);
- ``mssql-python, column by column with text (sketch)``: not the product; the columnar encoding
  with text escaped by pyarrow's kernels (``arrow_copy_text``), for the types these tables hold.

Medians of ``--repeat``; ``ratio to freebcp`` is freebcp's median seconds over the contender's (1.0:
as fast; the goal of issue 14 is 0.7 for ours). JSON in ``docs/bench/tds-read-scale-<scale>.json``,
the table in ``docs/bench/tds-read-scale-<scale>.md``. ``make bench`` runs it when
``REPLICATION_TEST_MSSQL_URL`` is set.

    .venv/bin/python -m bench.tds_read --url mssql://user:password@127.0.0.1:1433/master --scale 0.1
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from bench.tds_source import bench_source, run_version, tds_parser
from include.replication.copy.encoder import RowEncoder
from include.replication.mssql.connect import connect_mssql, connect_mssql_python
from include.replication.mssql.source import SqlServerSource, select_sql
from include.replication.settings import NulPolicy

PROJECT_DIR = Path(__file__).resolve().parent.parent
FETCH_ROWS = 1_000  # rows per fetchmany, as the source's own (dialect.FETCH_ROWS)
ARROW_ROWS = 8_192  # mssql-python's default Arrow batch
FREEBCP_TIMEOUT_S = 900
ROWS = "mssql-python, row by row (RowEncoder)"
SKETCH = "mssql-python, column by column with text (sketch)"


def login(url: str) -> dict[str, Any]:
    """``connect_mssql``'s keyword arguments from ``mssql://user:password@host:port/database``."""
    parts = urlsplit(url)
    return {
        "host": parts.hostname,
        "port": parts.port or 1433,
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "database": unquote(parts.path.strip("/")),
    }


def timed(run_once: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = run_once()
    return time.perf_counter() - started, result


class Sink:
    """Counts and hashes the COPY text ``stream_rows`` writes."""

    def __init__(self) -> None:
        self.bytes, self.md5 = 0, hashlib.md5()

    def __call__(self, data: bytes) -> None:
        self.bytes += len(data)
        self.md5.update(data)


def fetch_rows(conn: Any, sql: str, params: dict[str, Any]) -> int:
    """Every row of ``sql`` through the driver's ``fetchmany``, nothing done with them."""
    cursor = conn.cursor()
    try:
        cursor.execute(sql, params) if params else cursor.execute(sql)
        rows = 0
        while batch := cursor.fetchmany(FETCH_ROWS):
            rows += len(batch)
        return rows
    finally:
        cursor.close()


def fetch_arrow(conn: Any, sql: str) -> int:
    """Every row of ``sql`` as mssql-python's Arrow record batches."""
    cursor = conn.cursor()
    try:
        cursor.execute(sql)
        rows = 0
        while (batch := cursor.arrow_batch(ARROW_ROWS)).num_rows:
            rows += batch.num_rows
        return rows
    finally:
        cursor.close()


def arrow_copy_text(conn: Any, sql: str, sink: Sink) -> int:
    """A sketch, not the product: ``columnar.py``'s encoding extended to text (escaped by pyarrow's kernels).

    Only what Votes and Posts hold (integers, text, datetime); no NUL policy, no row keys in errors.
    It shows why the product keeps tables with text row by row; the JSON compares its bytes with ours.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.large_string()
    tab, newline, empty = pa.scalar("\t", text), pa.scalar("\n", text), pa.scalar("", text)

    def field(column: Any) -> Any:
        if pa.types.is_integer(column.type):
            out = pc.cast(column, text)
        elif pa.types.is_large_string(column.type):
            out = column
            for char, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
                if pc.any(pc.match_substring(out, char)).as_py():
                    out = pc.replace_substring(out, char, escaped)
        elif pa.types.is_timestamp(column.type):  # isoformat(sep=" ") drops an all-zero fraction
            out = pc.replace_substring_regex(pc.cast(pc.cast(column, pa.timestamp("us")), text), r"\.000000$", "")
        else:
            raise TypeError(f"the sketch does not encode {column.type}")
        return pc.fill_null(out, "\\N") if out.null_count else out

    cursor = conn.cursor()
    try:
        cursor.execute(sql)
        rows = 0
        while (batch := cursor.arrow_batch(ARROW_ROWS)).num_rows:
            lines = pc.binary_join_element_wise(pc.binary_join_element_wise(*map(field, batch.columns), tab), empty,
                                                newline)  # fmt: skip
            offsets = memoryview(lines.buffers()[1]).cast("q")
            sink(lines.buffers()[2][int(offsets[lines.offset]) : int(offsets[lines.offset + len(lines)])].to_pybytes())
            rows += batch.num_rows
        return rows
    finally:
        cursor.close()


def row_copy_text(conn: Any, sql: str, table: Any, columns: Any, sink: Sink) -> int:
    """``stream_rows``'s row path on any driver: ``fetchmany`` batches through ``RowEncoder``."""
    encoder = RowEncoder(table.qualified, [c.name for c in columns], key=table.primary_key, nul_policy=NulPolicy.STRIP)
    cursor = conn.cursor()
    try:
        cursor.execute(sql)
        while batch := cursor.fetchmany(FETCH_ROWS):
            sink(encoder.encode(batch))
        return encoder.rows
    finally:
        cursor.close()


def freebcp(url: str, database: str, table: str, key: str, out: Path) -> int:
    """``freebcp "<query>" queryout <file> -c``; its own row count."""
    who = login(url)
    query = f"SELECT * FROM [{database}].[dbo].[{table}] ORDER BY [{key}]"
    command = ["freebcp", query, "queryout", str(out), "-c", "-S", f"{who['host']}:{who['port']}",
               "-U", who["user"], "-P", who["password"]]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=FREEBCP_TIMEOUT_S, check=False)
    copied = [line for line in done.stdout.splitlines() if line.endswith("rows copied.")]
    if done.returncode != 0 or not copied:
        raise RuntimeError(f"freebcp exited {done.returncode}: {(done.stdout + done.stderr).strip()[-300:]}")
    return int(copied[-1].split()[0])


def measure(url: str, table_name: str, repeat: int, work: Path) -> dict[str, Any]:
    """Every contender on one table, ``repeat`` times in turns; medians, raw seconds, bytes and hashes."""
    who = login(url)
    by_pymssql, by_mssql_python = connect_mssql(**who), connect_mssql_python(**who)
    try:
        source = SqlServerSource(by_pymssql)
        table = next(t for t in source.fetch_tables("dbo") if t.name == table_name)
        columns = source.map_columns(table)
        sql, params = select_sql(table, columns)
        sinks: dict[str, Sink] = {}

        def arrow_sketch() -> int:
            sinks[SKETCH] = Sink()
            return arrow_copy_text(by_mssql_python, sql, sinks[SKETCH])

        def rows_only() -> int:
            sinks[ROWS] = Sink()
            return row_copy_text(by_mssql_python, sql, table, columns, sinks[ROWS])

        def ours(conn: Any, name: str) -> int:
            sinks[name] = Sink()
            return SqlServerSource(conn).stream_rows(table, columns, sinks[name], nul_policy=NulPolicy.STRIP).rows

        runs: dict[str, Callable[[], int]] = {
            "freebcp queryout": lambda: freebcp(
                url, who["database"], table_name, table.primary_key[0], work / f"{table_name}.bcp"
            ),  # fmt: skip
            "pymssql fetch": lambda: fetch_rows(by_pymssql, sql, params),
            "mssql-python fetch": lambda: fetch_rows(by_mssql_python, sql, params),
            "mssql-python Arrow fetch": lambda: fetch_arrow(by_mssql_python, sql),
            "ours, pymssql": lambda: ours(by_pymssql, "ours, pymssql"),
            "ours, mssql-python": lambda: ours(by_mssql_python, "ours, mssql-python"),
            ROWS: rows_only,
            SKETCH: arrow_sketch,
        }
        seconds: dict[str, list[float]] = {name: [] for name in runs}
        rows: dict[str, int] = {}
        errors: dict[str, str] = {}
        for _ in range(repeat):
            for name, run_once in runs.items():
                if name in errors:
                    continue
                try:
                    elapsed, rows[name] = timed(run_once)
                except Exception as exc:  # e.g. no pyarrow for the Arrow fetch: recorded, not fatal
                    errors[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                    continue
                seconds[name].append(round(elapsed, 3))
        medians = {name: statistics.median(s) for name, s in seconds.items() if s}
        reference = medians.get("freebcp queryout")
        return {
            "table": table_name,
            "sql": sql,
            "rows": rows,
            "median_seconds": medians,
            "ratio_to_freebcp": {n: round(reference / s, 3) for n, s in medians.items()} if reference else {},
            "seconds": seconds,
            "errors": errors,
            "copy_text": {name: {"bytes": s.bytes, "md5": s.md5.hexdigest()} for name, s in sinks.items()},
        }
    finally:
        by_pymssql.close()
        by_mssql_python.close()


def versions() -> dict[str, str | None]:
    """The drivers' and tools' versions."""

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    bcp = shutil.which("freebcp")
    tsql = subprocess.run(["tsql", "-C"], capture_output=True, text=True, check=False) if shutil.which("tsql") else None
    freetds = next((line.split(":", 1)[1].strip() for line in (tsql.stdout if tsql else "").splitlines()
                    if "Version" in line), None)  # fmt: skip
    return {"python": platform.python_version(), "pymssql": version("pymssql"),
            "mssql-python": version("mssql-python"), "pyarrow": version("pyarrow"),
            "freebcp": f"{bcp} (FreeTDS {freetds})" if bcp else None}  # fmt: skip


def markdown(document: dict[str, Any]) -> str:
    """The medians as a table: seconds, rows/s and the ratio to freebcp, one column per table."""
    tables = document["tables"]
    names = list(dict.fromkeys(n for t in tables for n in (*t["median_seconds"], *t["errors"])))
    lines = ["| reader | " + " | ".join(f"{t['table']}" for t in tables) + " |", "|---|" + "---:|" * len(tables)]
    for name in names:
        cells = []
        for t in tables:
            s = t["median_seconds"].get(name)
            if s is None:
                cells.append(f"failed: {t['errors'].get(name, 'not run')}")
                continue
            ratio = t["ratio_to_freebcp"].get(name)
            cells.append(f"{s:.2f} s, {t['rows'][name] / s / 1000:,.0f}k rows/s" + (f", {ratio:.2f}×" if ratio else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = tds_parser(__doc__)
    args = parser.parse_args(argv)
    if not shutil.which("freebcp"):
        parser.error("freebcp is not on PATH (Debian: apt-get install freetds-bin)")
    sys.stdout.reconfigure(line_buffering=True)
    url = bench_source(args)
    conn = connect_mssql(**login(url))
    try:
        server = run_version(conn)
    finally:
        conn.close()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tds-read-") as work:
        tables = [measure(url, name, args.repeat, Path(work)) for name in args.tables.split(",")]
    document = {
        "command": ".venv/bin/python -m bench.tds_read --scale " + f"{args.scale:g} --repeat {args.repeat}",
        "scale": args.scale,
        "seed": args.seed,
        "repeat": args.repeat,
        "server": server,
        "machine": {
            "cores": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            **versions(),
        },  # fmt: skip
        "tables": tables,
    }
    stem = PROJECT_DIR / "docs" / "bench" / f"tds-read-scale-{args.scale:g}"
    json_path, md_path = stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".md")
    json_path.write_text(json.dumps(document, indent=2) + "\n")
    table = markdown(document)
    md_path.write_text(
        f"# The SQL Server read path against freebcp (scale {args.scale:g}, medians of {args.repeat})\n\n"
        f"Written by `{document['command']}` against {server}; {os.cpu_count()} cores, load average "
        f"{load_before[0]:.1f} before and {document['machine']['load_average_after'][0]:.1f} after. "
        "Ratio: freebcp's seconds over the reader's (the goal for ours: at least 0.7).\n\n" + table + "\n"
    )
    print(table)
    for t in document["tables"]:
        print(f"{t['table']}: COPY text {t['copy_text']}")
    print(f"wrote {json_path.relative_to(PROJECT_DIR)}, {md_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
