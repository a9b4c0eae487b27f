"""Rows into a SQL Server table in multi-row INSERTs: the load path every TDS server accepts.

Not the TDS bulk-load protocol: FreeTDS's bulk copy (pymssql ``bulk_copy``, ``freebcp``) loads
nothing into Babelfish 4.2, which rejects its batches ("Trying to read more data than available
in BCP request"), so it could not be measured against INSERT here; INSERT works on every server.
pymssql substitutes the values client side (strings as ``N'...'``, bytes as ``0x...``); each
column's template wraps its value (``CONVERT(datetime2(7), %s, 121)``) so that no session
language or DATEFORMAT can change what a text means.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pymssql

from include.replication.models import TableName
from include.replication.mssql.dialect import qualified, quote, run

BATCH_ROWS = 500  # rows per INSERT: one VALUES list takes at most 1,000 row constructors
# ... or fewer, once their text reaches this: Babelfish parses one large statement slower than
# several small ones (5,000 Posts: 4.0 s in batches of 100 rows, 7.4 s in batches of 500)
BATCH_TEXT_CHARS = 64_000


class InsertError(RuntimeError):
    """An INSERT batch the server refused; the message names the table and the batch's first and last keys."""


def insert_rows(
    conn: Any,
    table: TableName,
    columns: Sequence[str],
    templates: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    identity_insert: bool,
    batch: int = BATCH_ROWS,
) -> int:
    """INSERT ``rows`` (values in ``columns`` order, each wrapped by its template); return how many."""
    name = qualified(table)
    one = "(" + ", ".join(templates) + ")"
    head = f"INSERT INTO {name} ({', '.join(quote(c) for c in columns)}) VALUES "
    if identity_insert:  # a session setting: one connection inserts every batch
        run(conn, f"SET IDENTITY_INSERT {name} ON")
    count, pending, chars = 0, [], 0
    for row in rows:
        pending.append(row)
        chars += sum(len(v) for v in row if isinstance(v, str | bytes))
        if len(pending) == batch or chars >= BATCH_TEXT_CHARS:
            count += _insert(conn, table, head, one, pending)
            pending, chars = [], 0
    if pending:
        count += _insert(conn, table, head, one, pending)
    # after a failure the caller rolls back or drops the connection, and the setting goes with the session
    if identity_insert:
        run(conn, f"SET IDENTITY_INSERT {name} OFF")
    return count


def _insert(conn: Any, table: TableName, head: str, one: str, rows: list[Sequence[Any]]) -> int:
    try:
        run(conn, head + ", ".join([one] * len(rows)), tuple(v for row in rows for v in row))
    except pymssql.Error as exc:
        raise InsertError(
            f"{table.qualified}: the INSERT of the rows from {rows[0][0]!r} to {rows[-1][0]!r} failed: {exc.args}"
        ) from exc
    return len(rows)
