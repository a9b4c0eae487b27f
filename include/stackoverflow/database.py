"""Build a StackOverflow-shaped PostgreSQL source: connect by URL, create the tables, bulk-load rows."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from urllib.parse import unquote, urlsplit

import pg8000.native
from pg8000.native import identifier

from include.replication.copy.text_format import encode_row
from include.replication.postgres.connect import tcp_socket
from include.stackoverflow.schema import (
    LOOKUP_ROWS,
    Table,
    postgres_ddl,
    postgres_identity_reset_sql,
    postgres_primary_key_ddl,
)

# COPY data goes to the server in messages of about this size: large enough that per-message
# overhead vanishes, small enough that a message never holds much memory.
COPY_CHUNK_BYTES = 1 << 20


def connect(url: str) -> pg8000.native.Connection:
    """Open a pg8000 connection from a ``postgresql://user:password@host:port/database`` URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"expected a postgresql:// URL, got scheme {parts.scheme!r}")
    database = unquote(parts.path.lstrip("/")) or "postgres"
    return pg8000.native.Connection(
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password) if parts.password is not None else None,
        sock=tcp_socket(parts.hostname or "127.0.0.1", parts.port or 5432),
        database=database,
        application_name="stackoverflow-source-builder",
    )


def create_tables(conn: pg8000.native.Connection, tables: Iterable[Table], *, schema: str) -> None:
    """Drop and create ``tables`` in ``schema`` without primary keys, ready for a bulk load."""
    conn.run(f"CREATE SCHEMA IF NOT EXISTS {identifier(schema)}")
    for table in tables:
        conn.run(f"DROP TABLE IF EXISTS {identifier(schema)}.{identifier(table.name)}")
        conn.run(postgres_ddl(table, schema=schema, with_primary_key=False))


def finish_table(conn: pg8000.native.Connection, table: Table, *, schema: str) -> None:
    """Add the primary key after the load (one index build) and move the identity past max(Id)."""
    conn.run(postgres_primary_key_ddl(table, schema=schema))
    sql, params = postgres_identity_reset_sql(table, schema=schema)
    conn.run(sql, **params)
    conn.run(f"ANALYZE {identifier(schema)}.{identifier(table.name)}")


def copy_rows(conn: pg8000.native.Connection, table: Table, rows: Iterable[tuple], *, schema: str) -> int:
    """Stream ``rows`` (tuples in the table's column order) into ``table`` with COPY; return the count."""
    counter = [0]
    columns = ", ".join(identifier(c.name) for c in table.columns)
    conn.run(
        f"COPY {identifier(schema)}.{identifier(table.name)} ({columns}) FROM STDIN",
        stream=_chunks(rows, counter),
    )
    return counter[0]


def _chunks(rows: Iterable[tuple], counter: list[int]) -> Iterator[bytes]:
    """Group encoded rows into ~COPY_CHUNK_BYTES messages; count rows into ``counter[0]``."""
    lines: list[str] = []
    size = 0
    count = 0
    for row in rows:
        line = encode_row(row)
        lines.append(line)
        size += len(line)
        count += 1
        if size >= COPY_CHUNK_BYTES:
            yield "".join(lines).encode()
            lines.clear()
            size = 0
    if lines:
        yield "".join(lines).encode()
    counter[0] = count


def load_lookup_tables(conn: pg8000.native.Connection, tables: Iterable[Table], *, schema: str) -> None:
    """Write the fixed lookup rows (VoteTypes, PostTypes, LinkTypes) into the given lookup ``tables``."""
    for table in tables:
        copy_rows(conn, table, LOOKUP_ROWS[table.name], schema=schema)
        finish_table(conn, table, schema=schema)


def row_counts(conn: pg8000.native.Connection, tables: Iterable[Table], *, schema: str) -> dict[str, int]:
    """Return ``{table: count(*)}``."""
    return {t.name: conn.run(f"SELECT count(*) FROM {identifier(schema)}.{identifier(t.name)}")[0][0] for t in tables}
