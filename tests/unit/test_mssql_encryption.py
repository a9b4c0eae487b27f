"""A SQL Server connection's encryption extras, in pymssql's words or ODBC's, become one FreeTDS level."""

from __future__ import annotations

import pytest

from include.replication.mssql.connect import EncryptionSettingsError, encryption_of


@pytest.mark.parametrize(
    ("extras", "level"),
    [
        pytest.param({}, None, id="none-freetds-default"),
        pytest.param({"encryption": "require"}, "require", id="pymssql-require"),
        pytest.param({"encryption": "OFF"}, "off", id="pymssql-case-insensitive"),
        pytest.param({"Encrypt": "yes"}, "require", id="odbc-yes"),
        pytest.param({"encrypt": "Mandatory"}, "require", id="odbc-mandatory"),
        pytest.param({"Encrypt": "strict"}, "strict", id="tds8-strict"),
        pytest.param({"Encrypt": "no"}, "request", id="odbc-no-still-connects-to-forced-tls"),
        pytest.param({"Encrypt": "yes", "TrustServerCertificate": "yes"}, "require", id="trusted-cert"),
        pytest.param({"encryption": "require", "Encrypt": "true"}, "require", id="both-agree"),
    ],
)
def test_levels(extras, level):
    assert encryption_of(extras) == level


@pytest.mark.parametrize(
    ("extras", "message"),
    [
        pytest.param({"encryption": "always"}, "encryption 'always' is not one of", id="unknown-level"),
        pytest.param({"Encrypt": "sometimes"}, "Encrypt 'sometimes' is not one of", id="unknown-odbc"),
        pytest.param({"encryption": "off", "Encrypt": "yes"}, "disagree", id="conflict"),
        pytest.param({"Encrypt": "yes", "TrustServerCertificate": "no"}, "cannot do", id="verification-asked"),
    ],
)
def test_settings_pymssql_cannot_honour_fail_saying_why(extras, message):
    with pytest.raises(EncryptionSettingsError, match=message):
        encryption_of(extras)
