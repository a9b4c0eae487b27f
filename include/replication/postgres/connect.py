"""Open a pg8000 connection to PostgreSQL with the socket options and TLS the engine relies on.

pg8000 stays the driver on the numbers in docs/bench/encoder.md (psycopg 3 was not decisively
faster on this workload). A refused connection fails naming host, port, database and user,
never the password.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Mapping
from typing import Any

import pg8000.native

from include.replication.interfaces import LoginRejected
from include.replication.postgres import tls
from include.replication.settings import APPLICATION_NAME

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 30  # for establishing the TCP connection only (libpq's connect_timeout overrides it)
# Keepalive probes after 60 s of silence, every 10 s, 6 unanswered: a peer that vanished without a
# word (a dropped VPN, a failed-over host) fails the task in about two minutes instead of hanging it
# for Linux's default of two hours. An alive server answers probes however long its statement runs.
KEEPALIVE = {"keepalives_idle": 60, "keepalives_interval": 10, "keepalives_count": 6}
# libpq's parameter names (as users write them in the connection's extras) for the socket options
_SOCKET_OPTIONS = {
    "keepalives_idle": getattr(socket, "TCP_KEEPIDLE", None),
    "keepalives_interval": getattr(socket, "TCP_KEEPINTVL", None),
    "keepalives_count": getattr(socket, "TCP_KEEPCNT", None),
    "tcp_user_timeout": getattr(socket, "TCP_USER_TIMEOUT", None),  # milliseconds, as in libpq
}
# Extras this module reads: libpq's names, and pg8000's socket ``timeout`` (seconds; none by default)
OPTIONS = frozenset({"sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword", "connect_timeout", "keepalives",
                     "timeout", *_SOCKET_OPTIONS})  # fmt: skip
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
    options: Mapping[str, Any] | None = None,
) -> pg8000.native.Connection:
    """A pg8000 native connection; ``options`` are libpq-style extras (TLS, keepalives, timeouts; see ``OPTIONS``).

    ``timeout`` is pg8000's socket timeout, None by default: long COPYs and index builds must not trip it;
    keepalives find a dead peer instead.
    """
    options = dict(options or {})
    ignored = sorted(k for k in options if k not in OPTIONS)
    if ignored:
        log.info("PostgreSQL connection options not used by pg8000: %s", ", ".join(ignored))  # names only
    where = f"PostgreSQL {host}:{port}/{database} as {user!r}"
    try:
        context = tls.ssl_context(options)
    except (tls.TlsSettingsError, OSError, ssl.SSLError) as exc:  # e.g. a key that does not match its certificate
        raise tls.TlsRejected(f"{where}: {exc}") from None
    try:
        return pg8000.native.Connection(
            user=user,
            password=password,
            host=host,  # not dialled (sock is): the name the server's certificate must carry under verify-full
            sock=tcp_socket(host, port, options),
            database=database,
            application_name=APPLICATION_NAME,
            ssl_context=context,
        )
    except Exception as exc:
        # the driver's message can echo connection parameters; keep host/port/db, never the password
        message = str(exc).replace(password, "***") if password else str(exc)
        if isinstance(exc, AttributeError) and password is None:  # pg8000, asked for a password it was not given
            raise LoginRejected(f"{where}: the server asks for a password and none is given") from None
        code = exc.args[0].get("C") if exc.args and isinstance(exc.args[0], dict) else None
        if code in REJECTED:
            raise LoginRejected(f"{where}: {REJECTED[code]}: {message}") from None
        if reason := tls.rejection(exc.__cause__ or exc, options):
            raise tls.TlsRejected(f"{where}: {reason}") from None
        raise ConnectionError(f"cannot connect to {where}: {type(exc).__name__}: {message}") from None


def tcp_socket(host: str, port: int, options: Mapping[str, Any] | None = None) -> socket.socket:
    """A connected TCP socket for pg8000, with TCP_NODELAY and keepalive (libpq's keepalive extras honoured).

    pg8000 leaves Nagle's algorithm on: the small final messages of each COPY (CopyDone, Sync)
    then wait for the server's delayed ACK, about 44 ms per COPY statement here against 0.35 ms
    with TCP_NODELAY (measured in docs/bench/encoder.md) - a cost every partition pays.
    """
    options = options or {}
    sock = socket.create_connection((host, port), float(options.get("connect_timeout") or CONNECT_TIMEOUT_S))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    keepalive = str(options.get("keepalives", "1")) != "0"  # libpq: keepalives=0 turns them off
    if keepalive:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, option in _SOCKET_OPTIONS.items():
        value = options.get(name, KEEPALIVE.get(name))
        if option is not None and value is not None and (keepalive or name == "tcp_user_timeout"):
            sock.setsockopt(socket.IPPROTO_TCP, option, int(value))
    # no read timeout unless asked for: it would also cut long COPYs and index builds
    sock.settimeout(float(options["timeout"]) if options.get("timeout") else None)
    return sock
