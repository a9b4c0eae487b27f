"""T-SQL's spelling: bracket quoting and pymssql's ``%(name)s`` parameters.

pymssql substitutes parameters client side, and with a dict it touches nothing but
``%(name)s`` patterns: every statement with parameters passes them as a dict.
"""

from __future__ import annotations

import re
from typing import Any

from include.replication.copy.encoder import BadValueError
from include.replication.dialect import SqlDialect
from include.replication.models import TableName

# pymssql substitutes parameters client side and rewrites every "%(name)s" / "%(name)d" it finds,
# even inside a bracketed identifier (_mssql.pyx, _substitute_params); such a name cannot be read.
_PYMSSQL_PLACEHOLDER = re.compile(r"%\([^)]+\)[sd]")


class TsqlDialect(SqlDialect):
    """Identifiers as ``[name]``; parameters as pymssql's ``%(name)s``; bucket arithmetic in bigint."""

    def quote(self, name: str) -> str:
        """``[name]`` with ``]`` doubled."""
        if _PYMSSQL_PLACEHOLDER.search(name):
            raise ValueError(f"identifier {name!r} contains a pymssql parameter placeholder and cannot be queried")
        return "[" + name.replace("]", "]]") + "]"

    def placeholder(self, name: str) -> str:
        return f"%({name})s"

    def as_bigint(self, expression: str) -> str:
        return f"CONVERT(bigint, {expression})"


TSQL = TsqlDialect()
quote = TSQL.quote
qualified = TSQL.qualified


def execute(cursor: Any, sql: str, params: dict[str, Any] | tuple[Any, ...] | None = None) -> None:
    """Run ``sql``; without parameters pymssql sends the text untouched, with no placeholder scan."""
    if params:
        cursor.execute(sql, params)
    else:
        cursor.execute(sql)


def run(conn: Any, sql: str, params: dict[str, Any] | tuple[Any, ...] | None = None) -> None:
    """Run one batch that returns no rows, on a cursor of its own."""
    cursor = conn.cursor()
    try:
        execute(cursor, sql, params)
    finally:
        cursor.close()


def fetch_all(conn: Any, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """Every row of one statement, on a cursor of its own."""
    cursor = conn.cursor()
    try:
        execute(cursor, sql, params)
        return cursor.fetchall()
    finally:
        cursor.close()


# rows per fetchmany: a few MB even for 30 KB posts held as Python str (as a PostgreSQL source's FETCH)
FETCH_ROWS = 1_000


def fetch_batch(cursor: Any, table: TableName, after: str) -> list[tuple]:
    """The next batch; text pymssql cannot decode (an unpaired UTF-16 surrogate) fails naming where it is."""
    try:
        return cursor.fetchmany(FETCH_ROWS)
    except UnicodeDecodeError as exc:
        raise BadValueError(
            f"{table.qualified}: text that is not valid UTF-16 (an unpaired surrogate?) within the {FETCH_ROWS:,} "
            f"rows after {after}; pymssql cannot decode it ({exc.reason}). PostgreSQL cannot store it either: fix "
            "or exclude the value at the source"
        ) from exc
