"""Open source and target connections from Airflow connection ids: the only place that does.

Credentials come from Airflow (its metadata database, a secrets backend, or ``AIRFLOW_CONN_*``
environment variables) and go straight to the driver: they are never logged, returned or
written to XCom.
"""

from __future__ import annotations

from typing import Any

from include.replication.interfaces import Source
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


def open_source(conn_id: str, *, read_mode: ReadMode = ReadMode.COPY) -> Source:
    """The source for ``conn_id``, bound to an open connection (the caller closes it)."""
    conn = get_connection(conn_id)
    if conn.conn_type in POSTGRES_TYPES:
        return PostgresSource(open_postgres(conn), read_mode)
    if conn.conn_type in MSSQL_TYPES:
        from include.replication.mssql.source import SqlServerSource  # pymssql only where it is used

        return SqlServerSource(open_mssql(conn))
    raise ConnectionConfigError(
        f"source connections of type {conn.conn_type!r} are not supported (use mssql or postgres)"
    )


def open_target(conn_id: str) -> PostgresTarget:
    """The PostgreSQL target for ``conn_id``, bound to an open connection (the caller closes it)."""
    conn = get_connection(conn_id)
    if conn.conn_type not in POSTGRES_TYPES:
        raise ConnectionConfigError(f"target connection {conn_id!r} must be of type postgres, not {conn.conn_type!r}")
    return PostgresTarget(open_postgres(conn))


def open_postgres(conn: Any) -> Any:
    """A pg8000 connection from an Airflow connection (extras: ``timeout``, ``sslmode``)."""
    extra = conn.extra_dejson
    try:
        return connect_postgres(
            host=conn.host or "localhost",
            port=conn.port or 5432,
            user=conn.login or "postgres",
            password=conn.password,
            database=conn.schema or None,
            timeout=extra.get("timeout"),
            sslmode=extra.get("sslmode"),
        )
    except ConnectionError as exc:
        raise ConnectionConfigError(f"{exc} (connection {conn.conn_id!r})") from None


def open_mssql(conn: Any) -> Any:
    """A pymssql connection from an Airflow connection (extras: pymssql's own options, e.g. ``tds_version``)."""
    from include.replication.mssql.connect import connect_mssql

    try:
        return connect_mssql(
            host=conn.host,
            port=conn.port or 1433,
            user=conn.login,
            password=conn.password,
            database=conn.schema,
            **conn.extra_dejson,
        )
    except ConnectionError as exc:
        raise ConnectionConfigError(f"{exc} (connection {conn.conn_id!r})") from exc
