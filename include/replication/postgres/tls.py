"""TLS for pg8000 as libpq's parameters describe it, so a PostgreSQL connection means here what it means to psql.

Users write these parameters in an Airflow connection's extras (the postgres provider hands every
extra to libpq as it is): ``sslmode``, ``sslrootcert``, ``sslcert``, ``sslkey``, ``sslpassword``.
pg8000 takes an ``ssl.SSLContext`` instead; ``ssl_context`` builds it with libpq's meaning:

- ``disable``: no TLS. ``allow``/``prefer`` (libpq's default): TLS if the server offers it,
  unverified (pg8000 falls back to plain text when the server declines).
- ``require``: TLS, unverified, unless a root certificate is given: then as ``verify-ca`` (as libpq).
- ``verify-ca``: the server's chain must lead to ``sslrootcert``. ``verify-full``: and its name
  must match the host. ``sslrootcert=system`` means the system's trusted roots (libpq 16).
- ``sslcert``/``sslkey`` (``sslpassword`` for an encrypted key): a client certificate, for
  ``cert`` authentication in pg_hba.conf.

Where libpq reads ``~/.postgresql/root.crt``, ``postgresql.crt`` and ``postgresql.key`` when no
file is named, so does this; with no root certificate at all, verification uses the system's
roots (libpq would refuse to connect).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from include.replication.interfaces import LoginRejected

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
VERIFYING = ("verify-ca", "verify-full")
LIBPQ_DIR = Path.home() / ".postgresql"  # where libpq looks when no file is named


class TlsSettingsError(ValueError):
    """TLS extras that cannot work (an unknown sslmode, a file that is not there); the message names them."""


class TlsRejected(LoginRejected):
    """The TLS handshake failed on verification (server certificate, or ours refused): configuration, no retry."""

    hint = "check its sslmode, sslrootcert, sslcert and sslkey extras"


def ssl_context(options: Mapping[str, Any]) -> ssl.SSLContext | bool | None:
    """pg8000's ``ssl_context`` for libpq-style ``options``: False (no TLS), None (TLS if offered) or a context."""
    rootcert = options.get("sslrootcert") or None
    mode = options.get("sslmode") or ("verify-full" if rootcert == "system" else "prefer")
    if mode not in SSL_MODES:
        raise TlsSettingsError(f"sslmode {mode!r} is not one of {', '.join(SSL_MODES)}")
    if rootcert == "system" and mode != "verify-full":
        raise TlsSettingsError(f"sslrootcert=system needs sslmode verify-full (as in libpq), not {mode!r}")
    certfile = _file(options, "sslcert", "postgresql.crt")
    if mode == "disable":
        return False
    if mode in ("allow", "prefer") and not certfile:
        return None  # pg8000's own: TLS without verification when the server offers it, else plain text
    rootfile = rootcert if rootcert == "system" else _file(options, "sslrootcert", "root.crt")
    if mode == "require" and rootfile:
        mode = "verify-ca"  # libpq: "if a root CA file exists, require behaves like verify-ca"
    context = ssl.create_default_context()
    if mode in VERIFYING:
        if rootfile and rootfile != "system":
            context = ssl.create_default_context(cafile=rootfile)
        context.check_hostname = mode == "verify-full"
    else:  # require, or prefer with a client certificate: encrypt, do not verify the server
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if certfile:
        keyfile = _file(options, "sslkey", "postgresql.key")
        context.load_cert_chain(certfile, keyfile, password=options.get("sslpassword") or None)
    return context


def describe(options: Mapping[str, Any]) -> str:
    """The TLS settings for a message: sslmode and the files named (never ``sslpassword``)."""
    named = [f"{k}={options[k]}" for k in ("sslmode", "sslrootcert", "sslcert", "sslkey") if options.get(k)]
    return ", ".join(named) or "sslmode=prefer (default)"


def rejection(exc: BaseException, options: Mapping[str, Any]) -> str | None:
    """Why a connect error is TLS configuration (a certificate that does not verify, TLS refused), else None."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the server's certificate does not verify ({exc.verify_message}) with {describe(options)}"
    if isinstance(exc, ssl.SSLError):
        return f"the TLS handshake failed ({exc.reason or exc}) with {describe(options)}"
    if "Server refuses SSL" in str(exc):
        return f"the server does not offer TLS, which {describe(options)} requires"
    return None


def _file(options: Mapping[str, Any], name: str, default: str) -> str | None:
    """The file an option names (it must exist), else libpq's default file when it exists, else None."""
    given = options.get(name)
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            raise TlsSettingsError(f"{name} {given!r}: no such file where the task runs")
        return str(path)
    fallback = LIBPQ_DIR / default
    return str(fallback) if fallback.is_file() else None
