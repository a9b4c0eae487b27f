"""What pymssql's FreeTDS puts on the wire for the connection's encryption extras, and its socket's keepalive.

No SQL Server here: a local TCP listener stands in for one and reads the client's first TDS packet
(PRELOGIN), whose ENCRYPTION option says what FreeTDS asks the server for. Whether a real server
then encrypts is not shown here (tests/mssql, against a TDS server, when one is given).
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

import pytest

from include.replication.mssql.connect import connect_mssql

PRELOGIN = 0x12  # TDS packet type
ENCRYPTION_OPTION = 0x01
# PRELOGIN ENCRYPTION values (MS-TDS 2.2.6.5)
ENCRYPT_OFF, ENCRYPT_ON, ENCRYPT_NOT_SUP = 0x00, 0x01, 0x02


def first_packet(**options: Any) -> tuple[bytes, dict[str, int]]:
    """The client's first bytes to a listener that never answers, and its socket's TCP options meanwhile."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    worker = threading.Thread(
        target=lambda: _swallow(
            lambda: connect_mssql(
                host="127.0.0.1", port=port, user="u", password="p", database="d", login_timeout=3, **options
            )
        ),  # fmt: skip
        daemon=True,
    )
    worker.start()
    listener.settimeout(10)
    peer, client_address = listener.accept()
    listener.close()  # FreeTDS retries other TDS versions: refused at once, not after another login timeout
    with peer:
        peer.settimeout(10)
        data = peer.recv(4096)
        found = client_socket_options(client_address)
    worker.join(15)
    return data, found


def _swallow(call) -> None:
    try:
        call()
    except Exception:
        pass  # the stand-in never answers: the connect fails, as expected


def client_socket_options(address: tuple[str, int]) -> dict[str, int]:
    """TCP options of this process's socket bound to ``address`` (the one FreeTDS opened)."""
    for fd in map(int, os.listdir("/proc/self/fd")):
        try:
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        with sock:
            try:
                if sock.getsockname() != address:
                    continue
            except OSError:
                continue
            return {
                "keepalive": sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                "idle": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
                "interval": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
            }
    raise AssertionError(f"no socket bound to {address}")


def prelogin_encryption(packet: bytes) -> int:
    """The ENCRYPTION option's value in a TDS PRELOGIN packet."""
    assert packet[0] == PRELOGIN, f"not a PRELOGIN packet: {packet[:8].hex()}"
    payload, at = packet[8:], 0
    while payload[at] != 0xFF:
        token, offset = payload[at], int.from_bytes(payload[at + 1 : at + 3], "big")
        if token == ENCRYPTION_OPTION:
            return payload[offset]
        at += 5
    raise AssertionError("PRELOGIN without an ENCRYPTION option")


pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads socket options through /proc")


@pytest.mark.parametrize(
    ("extras", "expected"),
    [
        pytest.param({}, ENCRYPT_OFF, id="default-request-encrypts-if-the-server-can"),
        pytest.param({"encryption": "off"}, ENCRYPT_NOT_SUP, id="pymssql-off"),
        pytest.param({"encryption": "require"}, ENCRYPT_ON, id="pymssql-require"),
        pytest.param({"Encrypt": "yes", "TrustServerCertificate": "yes"}, ENCRYPT_ON, id="odbc-encrypt-yes"),
        pytest.param({"encrypt": "optional"}, ENCRYPT_OFF, id="odbc-optional-is-request"),
    ],
)
def test_encryption_extras_reach_the_prelogin_packet(extras, expected):
    packet, _ = first_packet(**extras)
    assert prelogin_encryption(packet) == expected


def test_freetds_turns_keepalive_on_by_itself():
    """A silently dropped network fails a pymssql read within about a minute: FreeTDS probes after 40 s."""
    _, options = first_packet()
    assert options == {"keepalive": 1, "idle": 40, "interval": 2}
