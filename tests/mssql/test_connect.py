"""Connecting over TDS: login errors that name the server and never the password; the capability probe.

Runs only with a real TDS server (``REPLICATION_TEST_MSSQL_URL``, see README.md here); skipped otherwise.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from include.replication.airflow.connections import open_source
from include.replication.mssql.capabilities import probe
from include.replication.mssql.connect import connect_mssql
from include.replication.mssql.dialect import fetch_all
from include.replication.mssql.source import SqlServerSource
from tests.mssql.mssql_helpers import MssqlServer

WRONG = "Not-The-Password-9"


def test_wrong_password_names_server_database_and_user_not_the_password(mssql_server: MssqlServer):
    """A refused login fails in seconds, naming host, port, database and user; the password appears nowhere."""
    started = time.monotonic()
    with pytest.raises(ConnectionError) as caught:
        connect_mssql(host=mssql_server.host, port=mssql_server.port, user=mssql_server.user, password=WRONG,
                      database=mssql_server.database, login_timeout=10)  # fmt: skip
    assert time.monotonic() - started < 15
    message = str(caught.value)
    assert f"{mssql_server.host}:{mssql_server.port}" in message and repr(mssql_server.user) in message
    assert WRONG not in message and WRONG not in repr(caught.value.__cause__)


def test_missing_database_is_named(mssql_server: MssqlServer):
    with pytest.raises(ConnectionError, match="database 'no_such_database_here'"):
        mssql_server.connect("no_such_database_here")


def test_airflow_connection_opens_the_sql_server_source(mssql_server: MssqlServer, mssql_scratch: str, monkeypatch):
    """An Airflow connection of type mssql (as AIRFLOW_CONN_*) gives a SqlServerSource on that database."""
    monkeypatch.setenv("AIRFLOW_CONN_TDS_UNDER_TEST", mssql_server.airflow_uri(mssql_scratch))
    source = open_source("tds_under_test")
    try:
        assert isinstance(source, SqlServerSource)
        assert fetch_all(source.conn, "SELECT DB_NAME()")[0][0] == mssql_scratch
    finally:
        source.close()


def test_probe_reports_what_the_server_does(mssql_conn: Any):
    """Each capability is what the server does with the probe's own expressions, and SQL Server 2019+ has all."""
    capabilities = probe(mssql_conn)
    hexed = fetch_all(mssql_conn, "SELECT CONVERT(varchar(4), 0x0AFF, 2)")[0][0]
    assert capabilities.hex_style == (hexed == "0AFF")
    nul = fetch_all(mssql_conn, "SELECT NCHAR(0)")[0][0]
    assert capabilities.holds_nul == (nul is not None)
    major = int(fetch_all(mssql_conn, "SELECT CONVERT(int, SERVERPROPERTY('ProductMajorVersion'))")[0][0])
    engine = fetch_all(mssql_conn, "SELECT CONVERT(nvarchar(300), @@VERSION)")[0][0]
    if major >= 15 and engine.startswith("Microsoft SQL Server"):  # the docs' promise, checked where it applies
        assert capabilities.hashes_on_server and capabilities.stats_histogram and capabilities.holds_nul
