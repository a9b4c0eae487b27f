"""The StackOverflow dataset in a SQL Server database (or Babelfish): schema, generated rows, a real dump.

Builds a source for the SQL Server path as ``generate.py`` and ``load_dump.py`` build one in
PostgreSQL: the nine tables from ``sql/stackoverflow2010_mssql.sql``, the lookup rows, then
generated rows or a Stack Exchange XML dump, sent over TDS in multi-row INSERTs with their ids
(``SET IDENTITY_INSERT``). The nine tables are dropped and recreated: never point this at data
you want to keep.

Rows go in the engine's multi-row INSERTs (``include/replication/mssql/insert.py``, which says why
not bulk copy); datetimes travel as ``YYYY-MM-DD hh:mm:ss.mmm`` text converted with style 121, so
no session language or DATEFORMAT can reorder day and month.

    .venv/bin/python -m include.stackoverflow.sqlserver mssql://user:password@host:1433/StackOverflowSmall --scale 0.01
    .venv/bin/python -m include.stackoverflow.sqlserver mssql://... --dump ../shared/data/stackexchange/iota.stackexchange.com
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from include.replication.models import TableName
from include.replication.mssql import insert
from include.replication.mssql.connect import connect_mssql
from include.replication.mssql.dialect import fetch_all, qualified, run
from include.stackoverflow.generate import ROW_GENERATORS, Plan, generate_rows
from include.stackoverflow.load_dump import DumpError, LoadReport, Tally, convert_rows, plan_files
from include.stackoverflow.schema import LOOKUP_ROWS, TABLES, TABLES_BY_NAME, Table

TSQL_SCRIPT = Path(__file__).resolve().parent / "sql" / "stackoverflow2010_mssql.sql"


def create_tables(conn: Any) -> None:
    """Drop the nine tables if they exist, then create them as the T-SQL script declares them."""
    for table in TABLES:
        name = qualified(TableName("dbo", table.name))
        run(conn, f"IF OBJECT_ID(N'{name.replace(chr(39), chr(39) * 2)}', N'U') IS NOT NULL DROP TABLE {name}")
    run(conn, TSQL_SCRIPT.read_text())


def insert_rows(conn: Any, table: Table, rows: Iterable[tuple[Any, ...]]) -> int:
    """INSERT ``rows`` (in ``table``'s column order, ids included); return how many."""
    # style 121 is "yyyy-mm-dd hh:mi:ss.mmm"; the dumps write ISO 8601's "T" between date and time
    dates = {i for i, c in enumerate(table.columns) if c.sql_type == "datetime"}
    fixed = (
        (tuple(v.replace("T", " ", 1) if i in dates and v else v for i, v in enumerate(row)) for row in rows)
        if dates
        else rows
    )
    templates = ["CONVERT(datetime, %s, 121)" if i in dates else "%s" for i in range(len(table.columns))]
    try:
        return insert.insert_rows(conn, TableName("dbo", table.name), [c.name for c in table.columns], templates,
                                  fixed, identity_insert=True)  # fmt: skip
    except insert.InsertError as exc:
        raise DumpError(str(exc)) from exc


def load_lookups(conn: Any) -> None:
    """The lookup tables' fixed rows (VoteTypes, PostTypes, LinkTypes)."""
    for name, rows in LOOKUP_ROWS.items():
        insert_rows(conn, TABLES_BY_NAME[name], rows)


def row_counts(conn: Any) -> dict[str, int]:
    """``COUNT_BIG(*)`` of each of the nine tables."""
    return {
        t.name: int(fetch_all(conn, f"SELECT COUNT_BIG(*) FROM {qualified(TableName('dbo', t.name))}")[0][0])
        for t in TABLES
    }


def generate(conn: Any, *, scale: float, seed: int) -> dict[str, int]:
    """Recreate the nine tables and fill them with generated rows (``generate.py``'s, row for row); return counts."""
    create_tables(conn)
    load_lookups(conn)
    plan = Plan.for_scale(scale, seed)
    for name in ROW_GENERATORS:
        rows = (row for chunk in range(plan.chunks(name)) for row in generate_rows(plan, name, chunk))
        insert_rows(conn, TABLES_BY_NAME[name], rows)
    return row_counts(conn)


def load_dump(conn: Any, dump_dir: str | Path) -> LoadReport:
    """Recreate the nine tables and fill them from a Stack Exchange XML dump (``load_dump.py``'s rules)."""
    started = time.perf_counter()
    files, skipped, missing = plan_files(dump_dir)
    tally = Tally()
    create_tables(conn)
    load_lookups(conn)
    rows = {}
    for name, path in files.items():
        rows[name] = insert_rows(conn, TABLES_BY_NAME[name], convert_rows(path, TABLES_BY_NAME[name], tally))
    return tally.report(rows, skipped, missing, seconds=time.perf_counter() - started)


def connect_url(url: str) -> Any:
    """A pymssql connection (the project's ``connect_mssql``) from ``mssql://user:password@host:port/database``."""
    parts = urlsplit(url)
    if parts.scheme != "mssql" or not parts.hostname or not parts.path.strip("/"):
        raise SystemExit("the URL must look like mssql://user:password@host:port/database")
    return connect_mssql(
        host=parts.hostname,
        port=parts.port or 1433,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        database=unquote(parts.path.strip("/")),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=".venv/bin/python -m include.stackoverflow.sqlserver", description=__doc__.split("\n")[0]
    )
    parser.add_argument("url", help="mssql://user:password@host:port/database (the database must exist)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--scale", type=float, help="generated rows; 1.0 is StackOverflow2010's 19.3M")
    source.add_argument("--dump", type=Path, help="a Stack Exchange dump folder (Posts.xml, Users.xml, ...)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    conn = connect_url(args.url)
    try:
        started = time.perf_counter()
        if args.dump:
            print(load_dump(conn, args.dump).render())
        else:
            counts = generate(conn, scale=args.scale, seed=args.seed)
            print("\n".join(f"{name:<12} {count:>12,}" for name, count in counts.items()))
            print(f"{sum(counts.values()):,} rows in {time.perf_counter() - started:.1f} s")
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
