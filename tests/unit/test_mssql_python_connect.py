"""Opening an mssql-python connection: the ODBC connection string from the same extras as pymssql's, and refusals.

No SQL Server here: the connection string is checked as text, and the real driver is pointed at
a port on 127.0.0.1 where nothing listens. tests/mssql/test_read_drivers.py reads a real server.
"""

from __future__ import annotations

import socket

import pytest

from include.replication.mssql.connect import (
    EncryptionSettingsError,
    connect_mssql_python,
    odbc_connection_string,
    odbc_value,
)

LOGIN = {"host": "mssql", "port": 1433, "user": "reader", "password": "s3cr3t!", "database": "StackOverflow2010"}


def attributes(connection_string: str) -> dict[str, str]:
    """Key to braced value, for strings whose values hold no ``;`` (the ones here)."""
    return dict(part.split("=", 1) for part in connection_string.split(";"))


@pytest.mark.parametrize(
    ("value", "written"),
    [("plain", "{plain}"), ("a;b=c", "{a;b=c}"), ("ends}", "{ends}}}"), ("{x}", "{{x}}}"), ("", "{}")],
    ids=["plain", "semicolon and equals", "closing brace doubled", "braces", "empty"],
)
def test_values_are_braced_so_nothing_in_them_is_syntax(value: str, written: str) -> None:
    assert odbc_value(value) == written


def test_login_server_and_database() -> None:
    parts = attributes(odbc_connection_string(**LOGIN))
    assert parts["Server"] == "{tcp:mssql,1433}"
    assert parts["Database"] == "{StackOverflow2010}"
    assert parts["UID"] == "{reader}"
    assert parts["PWD"] == "{s3cr3t!}"


@pytest.mark.parametrize(
    ("extras", "encrypt"),
    [
        ({}, "{no}"),
        ({"encryption": "off"}, "{no}"),
        ({"encryption": "request"}, "{no}"),
        ({"encryption": "require"}, "{yes}"),
        ({"encryption": "strict"}, "{strict}"),
        ({"Encrypt": "yes"}, "{yes}"),
        ({"Encrypt": "Mandatory", "TrustServerCertificate": "yes"}, "{yes}"),
    ],
    ids=["default", "off", "request", "require", "strict", "odbc yes", "odbc mandatory"],
)
def test_encryption_as_pymssql_reads_the_same_extras(extras: dict[str, str], encrypt: str) -> None:
    """The FreeTDS level ``encryption_of`` gives, in ODBC's words; the certificate unverified, as with pymssql."""
    parts = attributes(odbc_connection_string(**LOGIN, **extras))
    assert parts["Encrypt"] == encrypt
    assert parts["TrustServerCertificate"] == "{yes}"


def test_certificate_verification_is_refused_as_for_pymssql() -> None:
    with pytest.raises(EncryptionSettingsError, match="TrustServerCertificate=no"):
        odbc_connection_string(**LOGIN, Encrypt="yes", TrustServerCertificate="no")


def test_freetds_and_unknown_options_stay_out_of_the_string(caplog: pytest.LogCaptureFixture) -> None:
    text = odbc_connection_string(**LOGIN, tds_version="7.4", charset="UTF-8", driver="ODBC Driver 18")
    assert set(attributes(text)) == {"Server", "Database", "UID", "PWD", "Encrypt", "TrustServerCertificate"}
    assert "ignoring connection options mssql-python does not take: driver" in caplog.text
    assert "s3cr3t!" not in caplog.text


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_refused_connection_names_the_server_never_the_password() -> None:
    """The real driver against a closed port: ConnectionError naming host, port, database and user."""
    port = unused_port()
    with pytest.raises(ConnectionError) as caught:
        connect_mssql_python(**{**LOGIN, "host": "127.0.0.1", "port": port}, login_timeout=2)
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "'StackOverflow2010'" in message and "'reader'" in message
    assert "s3cr3t!" not in message and "s3cr3t!" not in str(caught.value.__cause__)
