"""The connection's encryption extras against a real TDS server: what the server reports, or a refusal that says why.

A server with TLS configured must report the session encrypted under ``encryption=require``; one
without TLS (Babelfish as set up here) must refuse it, never continue unencrypted.
"""

from __future__ import annotations

import pytest

from include.replication.mssql.connect import connect_mssql
from tests.mssql.mssql_helpers import MssqlServer


def encrypted(server: MssqlServer, **extras) -> bool:
    """Connect with ``extras``; whether the server reports this session encrypted."""
    conn = connect_mssql(host=server.host, port=server.port, user=server.user, password=server.password,
                         database=server.database, login_timeout=10, **extras)  # fmt: skip
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT encrypt_option FROM sys.dm_exec_connections WHERE session_id = @@SPID")
        return str(cursor.fetchone()[0]).upper() == "TRUE"
    finally:
        conn.close()


def test_encryption_off_is_never_encrypted(mssql_server: MssqlServer):
    assert encrypted(mssql_server, encryption="off") is False


@pytest.mark.parametrize("extras", [{"encryption": "require"}, {"Encrypt": "yes", "TrustServerCertificate": "yes"}])
def test_required_encryption_is_encrypted_or_refused_saying_why(mssql_server: MssqlServer, extras):
    try:
        assert encrypted(mssql_server, **extras) is True
    except ConnectionError as exc:  # a server without TLS: refused, not continued in clear text
        assert "encryption=require: the server may not offer TLS" in str(exc)
        assert mssql_server.password not in str(exc)
