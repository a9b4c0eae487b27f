"""Open a pymssql connection to SQL Server (or any TDS server), with the settings the engine relies on.

Autocommit (a reader holds no transaction), UTF-8 text, the full TEXTSIZE for (max) values, the
engine's application name for the DBA, and a short login timeout. A refused login fails naming
host, port, database and user, never the password.
"""

from __future__ import annotations

import logging
from typing import Any

import pymssql

from include.replication.interfaces import LoginRejected
from include.replication.settings import APPLICATION_NAME

log = logging.getLogger(__name__)

LOGIN_TIMEOUT_S = 30  # a wrong host fails the task in seconds, not after pymssql's default 60
FULL_TEXTSIZE = "SET TEXTSIZE 2147483647"

# Keyword arguments of pymssql.connect that a connection's extras may set; Airflow extras often
# carry others (sqlalchemy_scheme, driver) that pymssql would reject.
PYMSSQL_OPTIONS = ("login_timeout", "timeout", "tds_version", "appname", "charset", "autocommit", "encryption",
                   "read_only", "conn_properties", "use_datetime2", "arraysize")  # fmt: skip


def connect_mssql(
    *, host: str, port: int, user: str, password: str, database: str, **options: Any
) -> pymssql.Connection:
    """Open a pymssql connection in autocommit (a reader holds no transaction); known ``options`` go to pymssql."""
    ignored = sorted(k for k in options if k not in PYMSSQL_OPTIONS)
    if ignored:
        log.warning("ignoring connection options pymssql does not take: %s", ", ".join(ignored))  # names only
    settings: dict[str, Any] = {"login_timeout": LOGIN_TIMEOUT_S, "appname": APPLICATION_NAME, "charset": "UTF-8",
                                "autocommit": True}  # fmt: skip
    # tds_version only when given: FreeTDS then negotiates the highest version the server speaks
    settings.update((k, v) for k, v in options.items() if k in PYMSSQL_OPTIONS)
    if "conn_properties" in settings:
        # pymssql sends its own SET TEXTSIZE only without conn_properties: (max) values would arrive cut short
        properties = settings["conn_properties"]
        settings["conn_properties"] = [*([properties] if isinstance(properties, str) else properties), FULL_TEXTSIZE]
    log.info(
        "connecting to SQL Server %s:%s database %s as %s (tds_version %s, login timeout %ss)",
        host, port, database, user, settings.get("tds_version", "negotiated"), settings["login_timeout"],
    )  # fmt: skip
    try:
        return pymssql.connect(server=host, port=str(port), user=user, password=password, database=database, **settings)
    except pymssql.Error as exc:
        where = f"SQL Server {host}:{port} database {database!r} as {user!r}"
        if rejected(exc):
            raise LoginRejected(f"{where}: the server refused the login or the database") from exc
        raise ConnectionError(f"cannot connect to {where}") from exc


# Messages of a server that answered and refused (SQL Server 18456, 4060, 18486-18488; Babelfish's own
# wording); FreeTDS may carry a stale message number over, so the words decide, unless the network failed.
_REFUSED = ("login failed", "cannot open database", "does not exist", "password has expired", "account is locked")
_UNREACHABLE = ("unable to connect", "unavailable", "timed out", "connection refused", "adaptive server connection")


def rejected(exc: BaseException) -> bool:
    """Whether a pymssql connect error is the server refusing the login or database (not a network fault)."""
    args = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], tuple) else exc.args
    text = " ".join(a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a) for a in args).lower()
    return not any(word in text for word in _UNREACHABLE) and any(word in text for word in _REFUSED)
