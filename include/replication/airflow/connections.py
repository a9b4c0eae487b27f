"""Open source and target connections from Airflow connection ids: the only place that does.

Credentials come from Airflow (its metadata database, a secrets backend, or ``AIRFLOW_CONN_*``
environment variables) and go straight to the driver: they are never logged, returned or
written to XCom.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

import pg8000.native

from include.replication.interfaces import Source
from include.replication.postgres.source import PostgresSource
from include.replication.postgres.target import PostgresTarget
from include.replication.settings import ReadMode

APPLICATION_NAME = "stackoverflow-replication"
CONNECT_TIMEOUT_S = 30  # for establishing the TCP connection only
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
        from include.replication.mssql.source import SqlServerSource, connect_mssql  # pymssql only where used

        return SqlServerSource(
            connect_mssql(
                host=conn.host,
                port=conn.port or 1433,
                user=conn.login,
                password=conn.password,
                database=conn.schema,
                **conn.extra_dejson,
            )
        )
    raise ConnectionConfigError(
        f"source connections of type {conn.conn_type!r} are not supported (use mssql or postgres)"
    )


def open_target(conn_id: str) -> PostgresTarget:
    """The PostgreSQL target for ``conn_id``, bound to an open connection (the caller closes it)."""
    conn = get_connection(conn_id)
    if conn.conn_type not in POSTGRES_TYPES:
        raise ConnectionConfigError(f"target connection {conn_id!r} must be of type postgres, not {conn.conn_type!r}")
    return PostgresTarget(open_postgres(conn))


def open_postgres(conn: Any) -> pg8000.native.Connection:
    """Connect with pg8000 (pure Python: safe in forked LocalExecutor task processes)."""
    extra = conn.extra_dejson
    try:
        native = pg8000.native.Connection(
            user=conn.login or "postgres",
            password=conn.password,
            sock=tcp_socket(conn.host or "localhost", conn.port or 5432, CONNECT_TIMEOUT_S),
            database=conn.schema or None,
            application_name=APPLICATION_NAME,
            timeout=extra.get("timeout"),  # a socket timeout: None, or long COPYs and index builds would trip it
            ssl_context=_ssl_context(extra.get("sslmode")),
        )
    except Exception as exc:
        # the driver's message can echo connection parameters; keep host/port/db, never the password
        raise ConnectionConfigError(
            f"cannot connect to PostgreSQL {conn.host}:{conn.port}/{conn.schema} as {conn.login!r} "
            f"(connection {conn.conn_id!r}): {type(exc).__name__}: {_without(str(exc), conn.password)}"
        ) from None
    return native


def tcp_socket(host: str, port: int, timeout: float | None = None) -> socket.socket:
    """A connected TCP socket for pg8000, with TCP_NODELAY and keepalive.

    pg8000 leaves Nagle's algorithm on: the small final messages of each COPY (CopyDone, Sync)
    then wait for the server's delayed ACK, about 44 ms per COPY statement here against 0.35 ms
    with TCP_NODELAY (measured in docs/bench/encoder.md) - a cost every partition pays.
    """
    sock = socket.create_connection((host, port), timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.settimeout(None)  # a socket timeout would also cut long COPYs and index builds
    return sock


def _ssl_context(sslmode: str | None) -> ssl.SSLContext | None:
    if sslmode in (None, "disable", "allow", "prefer"):
        return None
    context = ssl.create_default_context()
    if sslmode == "require":  # encrypt, but do not verify the server (libpq's meaning)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _without(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text
