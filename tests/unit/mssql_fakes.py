"""A stand-in pymssql connection for unit tests: SQL Server cannot run on this machine.

The fake records every statement with its parameters and answers with canned rows shaped as
pymssql returns them (tuples of int, str, Decimal, datetime, uuid.UUID, bytes, None). ``wire_sql``
applies pymssql's own client-side parameter substitution, so tests see the exact text
SQL Server would receive.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pymssql import _mssql

Rows = Sequence[tuple[Any, ...]]
Responder = Callable[[str, dict[str, Any] | None], Rows]


def wire_sql(sql: str, params: dict[str, Any] | None) -> str:
    """The statement text pymssql sends: parameters substituted as literals by pymssql itself."""
    if not params:
        return sql
    return _mssql.substitute_params(sql, params).decode("utf-8")


class FakeCursor:
    """DB-API cursor over canned rows; ``fetchmany`` hands them out in the requested sizes."""

    def __init__(self, connection: FakeConnection) -> None:
        self.connection = connection
        self.rows: list[tuple[Any, ...]] = []
        self.closed = False

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> None:
        self.connection.executed.append((sql, params))
        self.rows = list(self.connection.respond(sql, params))

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self.rows = self.rows, []
        return rows

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        self.connection.fetch_sizes.append(size)
        rows, self.rows = self.rows[:size], self.rows[size:]
        return rows

    def close(self) -> None:
        self.closed = True


class FakeConnection:
    """DB-API connection whose cursors answer through ``respond`` (a function, or canned rows for any query)."""

    def __init__(self, respond: Responder | Rows = ()) -> None:
        self.respond: Responder = respond if callable(respond) else (lambda sql, params: respond)
        self.executed: list[tuple[str, dict[str, Any] | None]] = []
        self.fetch_sizes: list[int] = []
        self.cursors: list[FakeCursor] = []

    def cursor(self) -> FakeCursor:
        cursor = FakeCursor(self)
        self.cursors.append(cursor)
        return cursor
