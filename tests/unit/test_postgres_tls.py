"""libpq's TLS parameters mean here what they mean to libpq (the TLS server tests are in tests/integration/test_tls.py)."""

from __future__ import annotations

import ssl

import pytest

from include.replication.postgres import tls


@pytest.fixture(autouse=True)
def no_libpq_files(monkeypatch, tmp_path):
    """No ~/.postgresql files: the defaults below are the ones without them."""
    monkeypatch.setattr(tls, "LIBPQ_DIR", tmp_path / "absent")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param({"sslmode": "disable"}, False, id="disable-no-tls"),
        pytest.param({}, None, id="default-prefer-tls-if-offered"),
        pytest.param({"sslmode": "prefer"}, None, id="prefer"),
        pytest.param({"sslmode": "allow"}, None, id="allow-as-prefer"),
    ],
)
def test_modes_without_verification_leave_it_to_pg8000(options, expected):
    assert tls.ssl_context(options) is expected


@pytest.mark.parametrize(
    ("options", "verify", "hostname"),
    [
        pytest.param({"sslmode": "require"}, ssl.CERT_NONE, False, id="require-encrypts-only"),
        pytest.param({"sslmode": "verify-ca"}, ssl.CERT_REQUIRED, False, id="verify-ca-chain-only"),
        pytest.param({"sslmode": "verify-full"}, ssl.CERT_REQUIRED, True, id="verify-full-chain-and-name"),
        pytest.param({"sslrootcert": "system"}, ssl.CERT_REQUIRED, True, id="system-roots-imply-verify-full"),
    ],
)
def test_verifying_modes(options, verify, hostname):
    context = tls.ssl_context(options)
    assert context.verify_mode == verify and context.check_hostname is hostname


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"sslmode": "verify_full"}, "sslmode 'verify_full' is not one of", id="unknown-mode"),
        pytest.param({"sslmode": "require", "sslrootcert": "system"}, "needs sslmode verify-full", id="system-weak"),
        pytest.param({"sslmode": "verify-ca", "sslrootcert": "/no/ca.crt"}, "sslrootcert '/no/ca.crt'", id="no-ca"),
        pytest.param({"sslmode": "require", "sslcert": "/no/client.crt"}, "sslcert '/no/client.crt'", id="no-cert"),
    ],
)
def test_settings_that_cannot_work_are_named(options, message):
    with pytest.raises(tls.TlsSettingsError, match=message):
        tls.ssl_context(options)


def test_describe_never_shows_the_key_password():
    assert "secret" not in tls.describe({"sslmode": "verify-full", "sslkey": "k.pem", "sslpassword": "secret"})
