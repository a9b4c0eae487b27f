"""Connections come from Airflow (here: AIRFLOW_CONN_* variables) and fail with messages that say what to do."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest

from include.replication.airflow.connections import ConnectionConfigError, get_connection, open_source, open_target
from include.replication.mssql import connect as mssql_connect
from include.replication.mssql import source as mssql_source
from include.replication.postgres.source import PostgresSource


def test_missing_connection_id_says_how_to_define_it():
    """A bad connection id names itself and the three ways to define it."""
    with pytest.raises(ConnectionConfigError, match="AIRFLOW_CONN_NO_SUCH_CONN"):
        get_connection("no_such_conn")


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_postgres_connection_opens_a_postgres_source(fresh_database, monkeypatch, scheme):
    """The source engine is chosen by the connection's type."""
    monkeypatch.setenv("AIRFLOW_CONN_TEST_SOURCE", scheme + fresh_database[fresh_database.index(":") :])
    source = open_source("test_source")
    try:
        assert isinstance(source, PostgresSource) and source.engine == "postgres"
    finally:
        source.close()


def test_mssql_connection_opens_a_sql_server_source(monkeypatch):
    """Stand-in for the drivers' connect (no SQL Server here): a source reads through mssql-python (ADR 0010)."""
    opened = []
    monkeypatch.setattr(mssql_connect, "connect_mssql_python", lambda **kwargs: opened.append(kwargs) or "mssql-python")
    monkeypatch.setattr(mssql_connect, "connect_mssql", lambda **kwargs: pytest.fail("a source opened with pymssql"))
    monkeypatch.setenv("AIRFLOW_CONN_TEST_MSSQL", "mssql://reader:x@db.example:1433/StackOverflow2010")
    source = open_source("test_mssql")
    assert isinstance(source, mssql_source.SqlServerSource) and source.conn == "mssql-python"
    assert opened[0]["host"] == "db.example" and opened[0]["database"] == "StackOverflow2010"


def test_unsupported_source_type_is_refused(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_TEST_MYSQL", "mysql://u:p@localhost:3306/db")
    with pytest.raises(ConnectionConfigError, match="'mysql' are not supported"):
        open_source("test_mysql")


def test_target_connection_pins_session_settings(fresh_database, monkeypatch):
    """An env-var connection opens with pg8000 and the session settings text output depends on."""
    monkeypatch.setenv("AIRFLOW_CONN_TEST_TARGET", fresh_database)
    target = open_target("test_target")
    try:
        assert target.conn.run("SHOW DateStyle")[0][0] == "ISO, YMD"
        assert target.conn.run("SHOW TimeZone")[0][0] == "UTC"
    finally:
        target.close()


def test_wrong_password_fails_without_echoing_it(fresh_database, monkeypatch):
    """A rejected login names host, database and user, and never the password."""
    parts = urlsplit(fresh_database)
    url = parts._replace(netloc=f"postgres:WrongSecret123@{parts.hostname}:{parts.port}")
    monkeypatch.setenv("AIRFLOW_CONN_TEST_BAD", urlunsplit(url))
    with pytest.raises(ConnectionConfigError) as caught:
        open_target("test_bad")
    assert "WrongSecret123" not in str(caught.value)
    assert "test_bad" in str(caught.value)


def test_target_must_be_postgres(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_TEST_MSSQL", "mssql://sa:x@localhost:1433/db")
    with pytest.raises(ConnectionConfigError, match="must be of type postgres"):
        open_target("test_mssql")
