"""Load a real Stack Exchange XML data dump into the StackOverflow2010 schema in PostgreSQL.

The target is a throwaway *source* database for the replication pipeline: all nine tables in the
target schema are dropped and recreated, so never point this at data you want to keep.

Decisions (each one counted in the ``LoadReport``, never silent):

- Attributes are matched to columns by name, because attribute sets drift between dump years.
  Attributes the schema lacks (``ContentLicense``, ``OwnerDisplayName``, ...) are ignored and counted.
- An absent attribute is NULL where the column allows it; for a NOT NULL column it becomes 0 (int,
  as Brent Ozar's importer did for ``Posts.ViewCount``) or '' (text). An absent NOT NULL datetime or
  ``Id`` has no sensible default and is an error.
- Text longer than the column's declared length fails the load (naming table, Id, column and
  length) rather than being truncated. Length counts characters (code points), as PostgreSQL's
  ``varchar(n)`` does; SQL Server's ``nvarchar(n)`` counts UTF-16 units, so a non-BMP character
  counts twice there.
- The whole load is one transaction: a failure leaves the previous tables untouched.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import time
import xml.parsers.expat
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pg8000.exceptions import DatabaseError
from pg8000.native import Connection

from include.stackoverflow.database import connect, copy_rows, create_tables, finish_table, load_lookup_tables
from include.stackoverflow.schema import LOOKUP_ROWS, MAX, TABLES, TABLES_BY_NAME, Column, Table

# Dump file → table. The dumps' other files (PostHistory.xml, Tags.xml) have no table in this schema.
DUMP_FILES: dict[str, str] = {
    "Badges.xml": "Badges",
    "Comments.xml": "Comments",
    "PostLinks.xml": "PostLinks",
    "Posts.xml": "Posts",
    "Users.xml": "Users",
    "Votes.xml": "Votes",
}

# Bytes handed to expat at a time: memory per file is this plus the rows one chunk holds, however
# large the file; 64 KiB keeps the per-call overhead negligible.
READ_CHUNK_BYTES = 1 << 16

# The dumps' timestamp format. At most three fractional digits: timestamp(3) would round a fourth away.
_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,3})?\Z")
# ASCII digits only: int() would also accept '+1', ' 1', '1_000' and non-ASCII digits.
_INTEGER = re.compile(r"-?[0-9]+\Z")
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1  # PostgreSQL integer, SQL Server int


class DumpError(ValueError):
    """A dump value or file that cannot be loaded as the schema requires; the message names where."""


@dataclass(frozen=True)
class LoadReport:
    """What a dump load wrote, skipped, ignored and defaulted; counter keys are ``Table.Column``."""

    rows: dict[str, int]
    skipped_files: tuple[str, ...]
    missing_files: tuple[str, ...]
    ignored_attributes: dict[str, int]
    defaulted_columns: dict[str, int]
    null_columns: dict[str, int]
    seconds: float

    def render(self) -> str:
        """Return the report as readable plain-text tables."""
        lines = [f"{'table':<12} {'rows':>12}"]
        lines += [f"{name:<12} {count:>12,}" for name, count in self.rows.items()]
        lines.append(f"{'total':<12} {sum(self.rows.values()):>12,}")
        lines.append(f"loaded in {self.seconds:.2f} s")
        lines.append(f"skipped files (no table in the schema): {', '.join(self.skipped_files) or 'none'}")
        lines.append(f"missing files (table left empty): {', '.join(self.missing_files) or 'none'}")
        for title, counts in (
            ("ignored attributes (not in the schema)", self.ignored_attributes),
            ("absent NOT NULL columns defaulted to 0 or ''", self.defaulted_columns),
            ("absent nullable columns loaded as NULL", self.null_columns),
        ):
            lines.append(f"{title}:" if counts else f"{title}: none")
            lines += [f"  {key:<40} {count:>12,}" for key, count in counts.items()]
        return "\n".join(lines)


class Tally:
    """Mutable counters filled while rows stream; frozen into the ``LoadReport`` at the end."""

    def __init__(self) -> None:
        self.ignored: Counter[str] = Counter()
        self.defaulted: Counter[str] = Counter()
        self.nulls: Counter[str] = Counter()

    def report(
        self, rows: dict[str, int], skipped: tuple[str, ...], missing: tuple[str, ...], *, seconds: float
    ) -> LoadReport:
        """The load's report: ``rows`` per table (the nine, in schema order; absent ones 0) and these counters."""
        return LoadReport(
            rows={t.name: rows.get(t.name, len(LOOKUP_ROWS.get(t.name, ()))) for t in TABLES},
            skipped_files=skipped,
            missing_files=missing,
            ignored_attributes=dict(sorted(self.ignored.items())),
            defaulted_columns=dict(sorted(self.defaulted.items())),
            null_columns=dict(sorted(self.nulls.items())),
            seconds=seconds,
        )


def iter_row_attributes(path: Path) -> Iterator[dict[str, str]]:
    """Yield the attributes of every ``<row>`` in ``path``, parsing in fixed-size chunks."""
    parser = xml.parsers.expat.ParserCreate()
    pending: list[dict[str, str]] = []

    def start(tag: str, attributes: dict[str, str]) -> None:
        if tag == "row":
            pending.append(attributes)

    parser.StartElementHandler = start
    with path.open("rb") as stream:
        try:
            while chunk := stream.read(READ_CHUNK_BYTES):
                parser.Parse(chunk, False)
                yield from pending
                pending.clear()
            parser.Parse(b"", True)
        except xml.parsers.expat.ExpatError as exc:
            raise DumpError(f"{path.name}: malformed XML: {exc}") from exc
    yield from pending


def _to_int(value: str) -> int:
    if _INTEGER.match(value):
        number = int(value)
        if _INT_MIN <= number <= _INT_MAX:
            return number
    raise DumpError(f"not a 32-bit integer: {value!r}")


def _to_datetime(value: str) -> str:
    # The text goes to COPY unchanged (PostgreSQL parses it exactly); fromisoformat rejects month 13 etc.
    try:
        if not _DATETIME.match(value):
            raise ValueError
        dt.datetime.fromisoformat(value)
    except ValueError:
        raise DumpError(f"malformed datetime {value!r} (expected YYYY-MM-DDTHH:MM:SS.fff)") from None
    return value


def _text_checker(column: Column) -> Callable[[str], str]:
    """Return a check that a value fits ``column``'s declared length, in characters as PostgreSQL counts."""
    if column.length == MAX:
        return str  # the identity for a str, and cheap
    limit = column.length

    def check(value: str) -> str:
        if len(value) > limit:
            raise DumpError(f"{len(value)} characters exceed {column.sql_type}({limit})")
        return value

    return check


def column_reader(table: Table, column: Column, tally: Tally) -> Callable[[str | None], object]:
    """Return a function from one attribute value (None when absent) to ``column``'s value."""
    convert = {"int": _to_int, "datetime": _to_datetime}.get(column.sql_type) or _text_checker(column)
    key = f"{table.name}.{column.name}"
    if column.nullable:
        counter, absent = tally.nulls, None
    elif column.identity or column.sql_type == "datetime":
        counter, absent = None, None  # no sensible default for a row key or a NOT NULL date
    else:
        counter, absent = tally.defaulted, 0 if column.sql_type == "int" else ""

    def read(value: str | None) -> object:
        if value is None:
            if counter is None:
                raise DumpError(f"column {column.name}: required attribute is absent")
            counter[key] += 1
            return absent
        try:
            return convert(value)
        except DumpError as exc:
            raise DumpError(f"column {column.name}: {exc}") from None

    return read


def convert_rows(path: Path, table: Table, tally: Tally) -> Iterator[tuple]:
    """Yield ``table``'s rows, in column order, from the dump file at ``path``."""
    readers = [(c.name, column_reader(table, c, tally)) for c in table.columns]
    known = {c.name for c in table.columns}
    for number, attributes in enumerate(iter_row_attributes(path), start=1):
        for name in attributes:
            if name not in known:
                tally.ignored[f"{table.name}.{name}"] += 1
        try:
            row = tuple([read(attributes.get(name)) for name, read in readers])
        except DumpError as exc:
            where = f"Id={attributes['Id']}" if "Id" in attributes else f"row #{number}"
            raise DumpError(f"{table.name} ({path.name}) {where} {exc}") from exc
        yield row


def plan_files(dump_dir: str | Path) -> tuple[dict[str, Path], tuple[str, ...], tuple[str, ...]]:
    """Return ``({table: file}, skipped file names, missing file names)`` for a dump folder."""
    dump_dir = Path(dump_dir)
    if not dump_dir.is_dir():
        raise DumpError(f"dump folder not found: {dump_dir}")
    present = {p.name: p for p in dump_dir.iterdir() if p.is_file()}
    files = {table: present[name] for name, table in DUMP_FILES.items() if name in present}
    skipped = tuple(sorted(name for name in present if name not in DUMP_FILES))
    missing = tuple(name for name in DUMP_FILES if name not in present)
    return files, skipped, missing


def _server_message(exc: DatabaseError) -> str:
    """Return PostgreSQL's message and detail from a pg8000 error (its args hold the raw fields)."""
    fields = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    if "M" not in fields:
        return str(exc)
    return fields["M"] + (f" ({fields['D']})" if "D" in fields else "")


def _load_table(conn: Connection, table: Table, path: Path | None, tally: Tally, *, schema: str) -> int:
    """COPY one table from its dump file (none: the table stays empty), then add its key; return rows."""
    source = convert_rows(path, table, tally) if path else iter(())
    try:
        count = copy_rows(conn, table, source, schema=schema)
        finish_table(conn, table, schema=schema)
    except DatabaseError as exc:
        # e.g. a duplicate Id fails the primary key: say which table and file it came from
        raise DumpError(f"{table.name} ({path.name if path else 'no file'}): {_server_message(exc)}") from exc
    return count


def load_dump(dump_dir: str | Path, url: str, *, schema: str = "public") -> LoadReport:
    """Recreate the nine tables in ``schema`` at ``url`` and fill them from the dump in ``dump_dir``."""
    started = time.perf_counter()
    files, skipped, missing = plan_files(dump_dir)
    tally = Tally()
    rows: dict[str, int] = {}
    conn = connect(url)
    try:
        # One transaction: readers (and a failed load) see the previous tables or the new ones, never half.
        conn.run("START TRANSACTION")
        create_tables(conn, TABLES, schema=schema)
        lookups = [TABLES_BY_NAME[name] for name in LOOKUP_ROWS]
        load_lookup_tables(conn, lookups, schema=schema)
        rows.update({t.name: len(LOOKUP_ROWS[t.name]) for t in lookups})
        for table in (t for t in TABLES if t.name in DUMP_FILES.values()):
            rows[table.name] = _load_table(conn, table, files.get(table.name), tally, schema=schema)
        conn.run("COMMIT")
    finally:
        # After an error mid-COPY the protocol state is unknown: closing makes the server roll back.
        conn.close()
    return tally.report(rows, skipped, missing, seconds=time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    """Command line: load one dump folder and print the report."""
    parser = argparse.ArgumentParser(
        prog=".venv/bin/python -m include.stackoverflow.load_dump",
        description=(
            "Load a Stack Exchange XML data dump (Badges, Comments, PostLinks, Posts, Users, Votes) into "
            "the StackOverflow2010 schema, seeding VoteTypes, PostTypes and LinkTypes. This builds a "
            "throwaway source: the nine tables in --schema are DROPPED and recreated."
        ),
    )
    parser.add_argument("dump_dir", type=Path, help="folder holding the dump's .xml files")
    parser.add_argument("--url", required=True, help="target database, postgresql://user:pw@host:port/db")
    parser.add_argument("--schema", default="public", help="target schema (default: public)")
    args = parser.parse_args(argv)
    try:
        report = load_dump(args.dump_dir, args.url, schema=args.schema)
    except DumpError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(report.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
