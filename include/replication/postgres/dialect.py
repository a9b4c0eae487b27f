"""PostgreSQL's SQL spelling, shared by the PostgreSQL source and the PostgreSQL target.

Quoting (pg8000's one function, the only way a name reaches SQL), parameters, and the session
settings that text output depends on.
"""

from __future__ import annotations

import re

from pg8000.native import Connection, identifier

from include.replication.dialect import SqlDialect

# Session settings that make text output (COPY, ::text, to_char) independent of the server's
# and the role's defaults: a source with DateStyle 'SQL, DMY' must not hand the target 03/04/2010.
SESSION_SETTINGS = (
    "SET DateStyle = 'ISO, YMD'",
    "SET IntervalStyle = 'postgres'",
    "SET extra_float_digits = 3",
    "SET bytea_output = 'hex'",
    "SET TimeZone = 'UTC'",
    "SET client_encoding = 'UTF8'",
)

TYPE_MODIFIERS = re.compile(r"\(\d+(,\d+)?\)")  # format_type()'s "(40)", "(12,4)"


class PostgresDialect(SqlDialect):
    """Identifiers through pg8000's ``identifier``; parameters as pg8000's native ``:name``."""

    def quote(self, name: str) -> str:
        return identifier(name)

    def placeholder(self, name: str) -> str:
        return f":{name}"


POSTGRES = PostgresDialect()
quote = POSTGRES.quote
qualified = POSTGRES.qualified


def prepare_session(conn: Connection) -> None:
    """Pin the settings that text output depends on (see SESSION_SETTINGS)."""
    for statement in SESSION_SETTINGS:
        conn.run(statement)
