"""Connections come from Airflow (here: AIRFLOW_CONN_* variables) and fail with messages that say what to do."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest

from include.replication.airflow.connections import ConnectionConfigError, get_connection, open_target, source_dialect
from include.replication.mssql.source import SqlServerDialect
from include.replication.postgres.source import PostgresDialect


def test_missing_connection_id_says_how_to_define_it():
    """A bad connection id names itself and the three ways to define it."""
    with pytest.raises(ConnectionConfigError, match="AIRFLOW_CONN_NO_SUCH_CONN"):
        get_connection("no_such_conn")


@pytest.mark.parametrize(
    ("conn_type", "dialect"),
    [("postgres", PostgresDialect), ("postgresql", PostgresDialect), ("mssql", SqlServerDialect)],
)
def test_dialect_follows_connection_type(conn_type, dialect):
    """The source engine is chosen by the connection's type."""
    assert isinstance(source_dialect(conn_type), dialect)


def test_unsupported_source_type_is_refused():
    with pytest.raises(ConnectionConfigError, match="'mysql' are not supported"):
        source_dialect("mysql")


def test_target_connection_pins_session_settings(fresh_database, monkeypatch):
    """An env-var connection opens with pg8000 and the session settings text output depends on."""
    monkeypatch.setenv("AIRFLOW_CONN_TEST_TARGET", fresh_database)
    conn = open_target("test_target")
    try:
        assert conn.run("SHOW DateStyle")[0][0] == "ISO, YMD"
        assert conn.run("SHOW TimeZone")[0][0] == "UTC"
    finally:
        conn.close()


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
