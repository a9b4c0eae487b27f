"""Open a pg8000 connection to PostgreSQL with the socket options and TLS the engine relies on.

pg8000 stays the driver on the numbers in docs/bench/encoder.md (psycopg 3 was not decisively
faster on this workload). A refused connection fails naming host, port, database and user,
never the password.
"""

from __future__ import annotations

import socket
import ssl

import pg8000.native

from include.replication.interfaces import LoginRejected
from include.replication.settings import APPLICATION_NAME

CONNECT_TIMEOUT_S = 30  # for establishing the TCP connection only
# SQLSTATEs of a server that answered and refused: configuration, not a passing fault
REJECTED = {
    "28P01": "wrong password",
    "28000": "login refused (pg_hba.conf or the role)",
    "3D000": "no such database",
    "42704": "no such role",
}


def connect_postgres(
    *,
    host: str,
    port: int,
    user: str,
    password: str | None,
    database: str | None,
    timeout: float | None = None,
    sslmode: str | None = None,
) -> pg8000.native.Connection:
    """A pg8000 native connection; ``timeout`` is a socket timeout (None: long COPYs and index builds must not trip it)."""
    try:
        return pg8000.native.Connection(
            user=user,
            password=password,
            sock=tcp_socket(host, port, CONNECT_TIMEOUT_S),
            database=database,
            application_name=APPLICATION_NAME,
            timeout=timeout,
            ssl_context=ssl_context(sslmode),
        )
    except Exception as exc:
        # the driver's message can echo connection parameters; keep host/port/db, never the password
        message = str(exc).replace(password, "***") if password else str(exc)
        where = f"PostgreSQL {host}:{port}/{database} as {user!r}"
        if isinstance(exc, AttributeError) and password is None:  # pg8000, asked for a password it was not given
            raise LoginRejected(f"{where}: the server asks for a password and none is given") from None
        code = exc.args[0].get("C") if exc.args and isinstance(exc.args[0], dict) else None
        if code in REJECTED:
            raise LoginRejected(f"{where}: {REJECTED[code]}: {message}") from None
        raise ConnectionError(f"cannot connect to {where}: {type(exc).__name__}: {message}") from None


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


def ssl_context(sslmode: str | None) -> ssl.SSLContext | None:
    """TLS as libpq's sslmode means it (disable/allow/prefer: none here; require: encrypt, do not verify)."""
    if sslmode in (None, "disable", "allow", "prefer"):
        return None
    context = ssl.create_default_context()
    if sslmode == "require":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
