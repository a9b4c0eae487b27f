"""Open a pymssql connection to SQL Server (or any TDS server), with the settings the engine relies on.

Autocommit (a reader holds no transaction), UTF-8 text, the full TEXTSIZE for (max) values, the
engine's application name for the DBA, and a short login timeout. A refused login fails naming
host, port, database and user, never the password.

Encryption is what the connection's extras ask for, in pymssql's words (``encryption``: off,
request, require, strict) or in the ODBC/JDBC words users bring from other tools (``Encrypt``,
``TrustServerCertificate``); see ``encryption_of``. FreeTDS (inside pymssql's wheel) turns TCP
keepalive on by itself - probes after 40 s of silence, 2 s apart (measured in
tests/integration/test_tds_driver_settings.py) - so a dropped network fails a read within about a
minute; ``timeout`` (pymssql's query timeout) stays off unless given, as long reads are normal.
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


ENCRYPTION_LEVELS = ("off", "request", "require", "strict")  # FreeTDS's; its default is request
# ODBC's and JDBC's Encrypt values (case-insensitive) in FreeTDS's terms. "no"/"optional" is "request"
# (encrypt when the server can): the nearest FreeTDS level that still connects to a server forcing TLS.
ODBC_ENCRYPT = {"yes": "require", "true": "require", "mandatory": "require", "strict": "strict",
                "no": "request", "false": "request", "optional": "request"}  # fmt: skip
ODBC_KEYS = ("encrypt", "trustservercertificate")  # read here, not passed to pymssql


class EncryptionSettingsError(LoginRejected):
    """Encryption extras that pymssql cannot honour; configuration, so no retry. The message says which."""

    hint = "check its encryption extras"


def encryption_of(options: dict[str, Any]) -> str | None:
    """FreeTDS's encryption level for a connection's extras (None: FreeTDS's default, request).

    pymssql cannot be given a CA file, and FreeTDS verifies a server certificate only against one:
    ``TrustServerCertificate=no`` (verify it) cannot be honoured and fails instead of silently trusting.
    """
    lowered = {k.lower(): v for k, v in options.items()}
    level = lowered.get("encryption")
    if level is not None and str(level).lower() not in ENCRYPTION_LEVELS:
        raise EncryptionSettingsError(f"encryption {level!r} is not one of {', '.join(ENCRYPTION_LEVELS)}")
    encrypt = lowered.get("encrypt")
    if encrypt is not None:
        mapped = ODBC_ENCRYPT.get(str(encrypt).lower())
        if mapped is None:
            raise EncryptionSettingsError(f"Encrypt {encrypt!r} is not one of {', '.join(ODBC_ENCRYPT)}")
        if level is not None and str(level).lower() != mapped:
            raise EncryptionSettingsError(f"encryption {level!r} and Encrypt {encrypt!r} disagree: give one")
        level = mapped
    trust = lowered.get("trustservercertificate")
    if trust is not None and str(trust).lower() in ("no", "false", "0"):
        raise EncryptionSettingsError(
            "TrustServerCertificate=no asks to verify the server's certificate, which pymssql (FreeTDS without a "
            "CA file) cannot do; remove it to encrypt without verification, or reach the server over a trusted network"
        )
    return str(level).lower() if level is not None else None


def connect_mssql(
    *, host: str, port: int, user: str, password: str, database: str, **options: Any
) -> pymssql.Connection:
    """Open a pymssql connection in autocommit (a reader holds no transaction); known ``options`` go to pymssql."""
    encryption = encryption_of(options)
    ignored = sorted(k for k in options if k not in PYMSSQL_OPTIONS and k.lower() not in ODBC_KEYS)
    if ignored:
        log.warning("ignoring connection options pymssql does not take: %s", ", ".join(ignored))  # names only
    settings: dict[str, Any] = {"login_timeout": LOGIN_TIMEOUT_S, "appname": APPLICATION_NAME, "charset": "UTF-8",
                                "autocommit": True}  # fmt: skip
    # tds_version only when given: FreeTDS then negotiates the highest version the server speaks
    settings.update((k, v) for k, v in options.items() if k in PYMSSQL_OPTIONS)
    settings.pop("encryption", None)
    if encryption:
        settings["encryption"] = encryption
    if "conn_properties" in settings:
        # pymssql sends its own SET TEXTSIZE only without conn_properties: (max) values would arrive cut short
        properties = settings["conn_properties"]
        settings["conn_properties"] = [*([properties] if isinstance(properties, str) else properties), FULL_TEXTSIZE]
    log.info(
        "connecting to SQL Server %s:%s database %s as %s (tds_version %s, encryption %s, login timeout %ss)",
        host, port, database, user, settings.get("tds_version", "negotiated"), encryption or "request (FreeTDS's default)",
        settings["login_timeout"],
    )  # fmt: skip
    try:
        return pymssql.connect(server=host, port=str(port), user=user, password=password, database=database, **settings)
    except pymssql.Error as exc:
        where = f"SQL Server {host}:{port} database {database!r} as {user!r}"
        if rejected(exc):
            raise LoginRejected(f"{where}: the server refused the login or the database") from exc
        if encryption in ("require", "strict"):  # FreeTDS says only "connection failed": name the likelier cause
            raise ConnectionError(
                f"cannot connect to {where} with encryption={encryption}: the server may not offer TLS "
                "(or is unreachable)"
            ) from exc
        raise ConnectionError(f"cannot connect to {where}") from exc


# ODBC's Encrypt for FreeTDS's levels: "request" (encrypt if the server can) has no ODBC spelling; "no"
# is ODBC 18's nearest (the login is encrypted, and everything when the server forces it).
ODBC_ENCRYPT_OF_LEVEL = {None: "no", "off": "no", "request": "no", "require": "yes", "strict": "strict"}


def odbc_value(value: object) -> str:
    """One value of an ODBC connection string, braced so ``;``, ``=`` and ``}`` in it stay literal."""
    return "{" + str(value).replace("}", "}}") + "}"


def odbc_connection_string(*, host: str, port: int, user: str, password: str, database: str, **options: Any) -> str:
    """The ODBC connection string for ``connect_mssql_python``: the extras of ``connect_mssql`` in ODBC's words.

    Encryption is the same level as pymssql's, and as there the certificate is not verified
    (``encryption_of`` refuses ``TrustServerCertificate=no``), so both drivers behave alike. The
    application name is the driver's own (mssql-python refuses ``APP``): ``appname`` is not sent.
    """
    encryption = encryption_of(options)
    ignored = sorted(k for k in options if k not in PYMSSQL_OPTIONS and k.lower() not in ODBC_KEYS)
    if ignored:
        log.warning("ignoring connection options mssql-python does not take: %s", ", ".join(ignored))  # names only
    attributes = {
        "Server": f"tcp:{host},{port}",
        "Database": database,
        "UID": user,
        "PWD": password,
        "Encrypt": ODBC_ENCRYPT_OF_LEVEL[encryption],
        "TrustServerCertificate": "yes",
    }
    return ";".join(f"{key}={odbc_value(value)}" for key, value in attributes.items())


def connect_mssql_python(*, host: str, port: int, user: str, password: str, database: str, **options: Any) -> Any:
    """Open an mssql-python connection (Microsoft's driver, ODBC in its wheel) in autocommit, as ``connect_mssql``.

    The same extras: encryption, ``login_timeout``, ``timeout`` (the query timeout), ``appname``,
    ``conn_properties`` (run after login); FreeTDS's own (``tds_version``, ``charset``) mean nothing here.
    """
    import mssql_python  # only where it is used

    connection_string = odbc_connection_string(
        host=host, port=port, user=user, password=password, database=database, **options
    )
    where = f"SQL Server {host}:{port} database {database!r} as {user!r}"
    login_timeout = int(options.get("login_timeout", LOGIN_TIMEOUT_S))
    log.info("connecting to %s with mssql-python (login timeout %ss)", where, login_timeout)
    try:
        conn = mssql_python.connect(connection_string, autocommit=True, timeout=login_timeout)
    except mssql_python.Error as exc:
        if rejected(exc):
            raise LoginRejected(f"{where}: the server refused the login or the database") from exc
        raise ConnectionError(f"cannot connect to {where}") from exc
    if options.get("timeout"):
        conn.timeout = int(options["timeout"])
    properties = options.get("conn_properties") or []
    cursor = conn.cursor()
    try:
        for statement in [properties] if isinstance(properties, str) else properties:
            cursor.execute(statement)
        cursor.execute(FULL_TEXTSIZE)
    finally:
        cursor.close()
    return conn


# Messages of a server that answered and refused (SQL Server 18456, 4060, 18486-18488; Babelfish's own
# wording); FreeTDS may carry a stale message number over, so the words decide, unless the network failed.
_REFUSED = ("login failed", "cannot open database", "does not exist", "password has expired", "account is locked")
_UNREACHABLE = ("unable to connect", "unavailable", "timed out", "connection refused", "adaptive server connection")


def rejected(exc: BaseException) -> bool:
    """Whether a pymssql connect error is the server refusing the login or database (not a network fault)."""
    args = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], tuple) else exc.args
    text = " ".join(a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a) for a in args).lower()
    return not any(word in text for word in _UNREACHABLE) and any(word in text for word in _REFUSED)
