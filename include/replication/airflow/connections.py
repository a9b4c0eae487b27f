"""Open source and target connections from Airflow connection ids: the only place that does.

Credentials come from Airflow (its metadata database, a secrets backend, or ``AIRFLOW_CONN_*``
environment variables) and go straight to the driver: they are never logged, returned or
written to XCom.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from typing import Any

from include.replication.interfaces import LoginRejected, Source, Target
from include.replication.postgres.connect import connect_postgres
from include.replication.postgres.source import PostgresSource
from include.replication.postgres.target import PostgresTarget
from include.replication.settings import ReadMode

POSTGRES_TYPES = ("postgres", "postgresql")
MSSQL_TYPES = ("mssql",)


class ConnectionConfigError(ValueError):
    """A connection id that is missing or not usable for its role; the message names it."""


def get_connection(conn_id: str) -> Any:
    """Look up an Airflow connection, turning 'not found' into a message that says what to do."""
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(conn_id)
    except Exception as exc:  # AirflowNotFoundException, or a secrets backend failure
        raise ConnectionConfigError(
            f"Airflow connection {conn_id!r} is not defined or cannot be read ({type(exc).__name__}). "
            f"Create it in the UI (Admin > Connections), in airflow_settings.yaml, or as the "
            f"environment variable AIRFLOW_CONN_{conn_id.upper()}."
        ) from exc


def engine_of(conn_id: str) -> str:
    """``"postgres"`` or ``"mssql"``: the engine behind an Airflow connection, by its type."""
    conn_type = get_connection(conn_id).conn_type
    if conn_type in POSTGRES_TYPES:
        return "postgres"
    if conn_type in MSSQL_TYPES:
        return "mssql"
    raise ConnectionConfigError(f"connection {conn_id!r} is of type {conn_type!r}; use mssql or postgres")


def open_source(conn_id: str, *, read_mode: ReadMode = ReadMode.COPY, target_engine: str = "postgres") -> Source:
    """The source for ``conn_id``, reading for a ``target_engine`` target, bound to an open connection."""
    conn = get_connection(conn_id)
    if conn.conn_type in POSTGRES_TYPES:
        if target_engine != "postgres":
            raise ConnectionConfigError(f"a PostgreSQL source ({conn_id!r}) can be copied to PostgreSQL only")
        return PostgresSource(open_postgres(conn), read_mode)
    if conn.conn_type in MSSQL_TYPES:
        from include.replication.mssql.source import SqlServerSource  # the driver only where it is used

        return SqlServerSource(open_mssql(conn, driver="mssql-python"), target_engine=target_engine)
    raise ConnectionConfigError(
        f"source connections of type {conn.conn_type!r} are not supported (use mssql or postgres)"
    )


def open_target(conn_id: str, *, engine: str = "postgres") -> Target:
    """The ``engine`` target for ``conn_id`` (the connection's type must agree), bound to an open connection."""
    conn = get_connection(conn_id)
    if engine == "postgres" and conn.conn_type in POSTGRES_TYPES:
        return PostgresTarget(open_postgres(conn))
    if engine == "mssql" and conn.conn_type in MSSQL_TYPES:
        from include.replication.mssql.target import SqlServerTarget

        return SqlServerTarget(open_mssql(conn))
    raise ConnectionConfigError(f"target connection {conn_id!r} must be of type {engine}, not {conn.conn_type!r}")


def open_postgres(conn: Any) -> Any:
    """A pg8000 connection from an Airflow connection; extras as libpq's parameters (sslmode, sslrootcert, ...)."""
    with refusals_named(conn):
        return connect_postgres(
            host=conn.host or "localhost",
            port=conn.port or 5432,
            user=conn.login or "postgres",
            password=conn.password,
            database=database_of(conn, "postgresql://user:password@host:5432/mydb"),
            options=conn.extra_dejson,
        )


def open_mssql(conn: Any, *, driver: str = "pymssql") -> Any:
    """A pymssql (or mssql-python) connection from an Airflow connection (extras: pymssql's own options)."""
    from include.replication.mssql.connect import connect_mssql, connect_mssql_python

    with refusals_named(conn):
        return (connect_mssql_python if driver == "mssql-python" else connect_mssql)(
            host=conn.host,
            port=conn.port or 1433,
            user=conn.login,
            password=conn.password,
            database=database_of(conn, "mssql://user:password@host:1433/MyDatabase"),
            **conn.extra_dejson,
        )


def database_of(conn: Any, example: str) -> str:
    """The connection's database; none is a configuration error (the drivers would pick one silently)."""
    if not conn.schema:
        raise ConnectionConfigError(
            f"connection {conn.conn_id!r} names no database: give it as the URI's path ({example}) "
            "or as the connection's Schema field"
        )
    return conn.schema


@contextmanager
def refusals_named(conn: Any) -> Generator[None, None, None]:
    """Name the connection in connect errors; a refused login or database is configuration (no retry)."""
    try:
        yield
    except LoginRejected as exc:  # TLS and encryption refusals carry their own hint
        hint = getattr(exc, "hint", "check its login, password and database")
        raise ConnectionConfigError(f"{exc} (connection {conn.conn_id!r}): {hint}") from exc
    except ConnectionError as exc:  # refused, timed out, dropped: may pass, so the task may retry
        raise ConnectionError(f"{exc} (connection {conn.conn_id!r})") from exc
