"""PostgreSQL connections with TLS as users configure them in Airflow (libpq's sslmode, sslrootcert, client certs).

A throwaway PostgreSQL of its own with ``ssl=on``, a CA, a server certificate and a client
certificate generated here: ``verify-full`` against the CA connects, a wrong CA or a name the
certificate does not carry fails in one line naming the connection, and ``cert`` authentication
in pg_hba.conf admits the client certificate's holder.
"""

from __future__ import annotations

import datetime
import glob
import json
import os
import subprocess
from pathlib import Path

import pytest

from include.replication.airflow.connections import ConnectionConfigError, open_target
from include.stackoverflow.database import connect

CERT_USER = "certuser"  # admitted by its client certificate only (pg_hba: hostssl ... cert)
HBA = f"""
hostssl all {CERT_USER} 127.0.0.1/32 cert
host all {CERT_USER} 0.0.0.0/0 reject
host all all 127.0.0.1/32 scram-sha-256
"""


def issue(name: str, *, issuer=None, ca: bool = False, dns=(), ips=()):
    """A key and a certificate for ``name`` (CN), signed by ``issuer`` (a (key, cert) pair) or by itself."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signing_key, signer = issuer if issuer else (key, None)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(signer.subject if signer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()), critical=False
        ).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    names = [x509.DNSName(d) for d in dns] + [x509.IPAddress(__import__("ipaddress").ip_address(i)) for i in ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return key, builder.sign(signing_key, hashes.SHA256())


def write_pem(folder: Path, stem: str, key, cert) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization

    key_path, cert_path = folder / f"{stem}.key", folder / f"{stem}.crt"
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def tls_bin_dir() -> str | None:
    """A PostgreSQL bin folder built with OpenSSL (the project's wheel is not): PG_TLS_BIN_DIR, else the system's."""
    candidates = [os.environ.get("PG_TLS_BIN_DIR"), os.environ.get("PG_BIN_DIR"),
                  *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]  # fmt: skip
    for folder in filter(None, candidates):
        postgres_bin = Path(folder) / "postgres"
        if postgres_bin.exists():
            linked = subprocess.run(["ldd", str(postgres_bin)], capture_output=True, text=True).stdout
            if "libssl" in linked:
                return folder
    return None


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """A throwaway PostgreSQL with ssl=on (server name ``localhost`` only) and client-cert auth for certuser."""
    pytest.importorskip("cryptography")
    from localdev import postgres

    bin_dir = tls_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL built with OpenSSL: install Debian's postgresql (or set PG_TLS_BIN_DIR)")
    files = tmp_path_factory.mktemp("tls")
    ca = issue("replication test CA", ca=True)
    other_ca = issue("some other CA", ca=True)
    server_cert = issue("localhost", issuer=ca, dns=["localhost"])  # not 127.0.0.1: verify-full by IP must fail
    client_cert = issue(CERT_USER, issuer=ca)
    paths = {
        "ca": write_pem(files, "ca", *ca)[0],
        "other_ca": write_pem(files, "other_ca", *other_ca)[0],
        "client": write_pem(files, "client", *client_cert),
    }
    name = f"pytest-tls-{os.getpid()}"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PG_BIN_DIR", bin_dir)
        server = postgres.start(name)
    try:
        data = server.data_dir
        server_files = write_pem(data, "server", *server_cert)
        (data / "root.crt").write_bytes(paths["ca"].read_bytes())
        (data / "pg_hba.conf").write_text(HBA)
        if os.geteuid() == 0:  # the server runs as nobody and must own its key
            for path in (*server_files, data / "root.crt", data / "pg_hba.conf"):
                os.chown(path, postgres.NOBODY_UID, postgres.NOBODY_UID)
        admin = connect(server.url())
        try:
            for setting, value in (("ssl_cert_file", "server.crt"), ("ssl_key_file", "server.key"),
                                   ("ssl_ca_file", "root.crt"), ("ssl", "on")):  # fmt: skip
                admin.run(f"ALTER SYSTEM SET {setting} = '{value}'")
            admin.run("SELECT pg_reload_conf()")
            admin.run(f"CREATE ROLE {CERT_USER} LOGIN")
        finally:
            admin.close()
        yield server, paths
    finally:
        postgres.stop(name)
        postgres.remove(name)


def define(monkeypatch, conn_id: str, server, *, host: str = "127.0.0.1", login: str = "postgres", **extra) -> None:
    """An Airflow connection (as JSON in AIRFLOW_CONN_*) to the TLS server's ``postgres`` database."""
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": host,
                "port": server.port,
                "schema": "postgres",
                "login": login,
                "password": server.password if login == "postgres" else None,
                "extra": {k: str(v) for k, v in extra.items()},
            }
        ),  # fmt: skip
    )


def session(conn_id: str) -> tuple[bool, str]:
    """Open the connection as the DAGs do; return (whether it is encrypted, the role logged in)."""
    target = open_target(conn_id)
    try:
        row = target.conn.run("SELECT ssl, current_user FROM pg_stat_ssl WHERE pid = pg_backend_pid()")[0]
        return row[0], row[1]
    finally:
        target.close()


def test_verify_full_with_the_servers_ca_connects_encrypted(tls_server, monkeypatch):
    server, paths = tls_server
    define(monkeypatch, "tls_ok", server, host="localhost", sslmode="verify-full", sslrootcert=paths["ca"])
    assert session("tls_ok") == (True, "postgres")


def test_a_wrong_ca_fails_in_one_line_naming_the_connection(tls_server, monkeypatch):
    server, paths = tls_server
    define(monkeypatch, "tls_wrong_ca", server, host="localhost", sslmode="verify-full", sslrootcert=paths["other_ca"])
    with pytest.raises(ConnectionConfigError) as caught:
        open_target("tls_wrong_ca")
    message = str(caught.value)
    assert "\n" not in message and "'tls_wrong_ca'" in message, message
    assert "certificate does not verify" in message and str(paths["other_ca"]) in message, message
    assert server.password not in message


def test_verify_full_checks_the_host_name_and_verify_ca_does_not(tls_server, monkeypatch):
    """The certificate names ``localhost`` only: verify-full to 127.0.0.1 is refused, verify-ca is not."""
    server, paths = tls_server
    define(monkeypatch, "tls_by_ip", server, sslmode="verify-full", sslrootcert=paths["ca"])
    with pytest.raises(ConnectionConfigError, match="127.0.0.1"):
        open_target("tls_by_ip")
    define(monkeypatch, "tls_ca_only", server, sslmode="verify-ca", sslrootcert=paths["ca"])
    assert session("tls_ca_only") == (True, "postgres")


def test_require_with_a_root_certificate_verifies_as_libpq_does(tls_server, monkeypatch):
    server, paths = tls_server
    define(monkeypatch, "tls_require", server, sslmode="require", sslrootcert=paths["other_ca"])
    with pytest.raises(ConnectionConfigError, match="does not verify"):
        open_target("tls_require")


def test_client_certificate_authenticates_without_a_password(tls_server, monkeypatch):
    """pg_hba ``hostssl ... cert``: the client certificate (CN = role) is the login."""
    server, paths = tls_server
    cert, key = paths["client"]
    define(monkeypatch, "tls_cert", server, login=CERT_USER, host="localhost", sslmode="verify-full",
           sslrootcert=paths["ca"], sslcert=cert, sslkey=key)  # fmt: skip
    assert session("tls_cert") == (True, CERT_USER)


def test_cert_login_without_a_certificate_is_refused_without_retry(tls_server, monkeypatch):
    server, paths = tls_server
    define(monkeypatch, "tls_no_cert", server, login=CERT_USER, sslmode="require")
    with pytest.raises(ConnectionConfigError, match="tls_no_cert"):
        open_target("tls_no_cert")


def test_sslmode_disable_never_encrypts_and_the_default_prefers_tls(tls_server, monkeypatch):
    server, _ = tls_server
    define(monkeypatch, "tls_off", server, sslmode="disable")
    define(monkeypatch, "tls_default", server)
    assert session("tls_off") == (False, "postgres")
    assert session("tls_default") == (True, "postgres")


def test_a_missing_certificate_file_is_named(tls_server, monkeypatch):
    server, _ = tls_server
    define(monkeypatch, "tls_missing", server, sslmode="verify-full", sslrootcert="/nonexistent/root.crt")
    with pytest.raises(ConnectionConfigError, match=r"sslrootcert '/nonexistent/root.crt'.*tls_missing"):
        open_target("tls_missing")


def test_keepalive_options_reach_the_socket(tls_server, monkeypatch):
    """The keepalive defaults (and libpq's keepalive extras) are set on the connection's socket."""
    import socket

    server, _ = tls_server
    define(monkeypatch, "ka_default", server, sslmode="disable")
    define(monkeypatch, "ka_given", server, sslmode="disable", keepalives_idle=30, tcp_user_timeout=90000)
    for conn_id, idle, user_timeout in (("ka_default", 60, 0), ("ka_given", 30, 90000)):
        target = open_target(conn_id)
        try:
            sock = target.conn._usock
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == idle
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 6
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == user_timeout
        finally:
            target.close()
