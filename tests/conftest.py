"""Shared fixtures: a real PostgreSQL for every test that needs one.

By default the session starts the project's own throwaway PostgreSQL 16 (``localdev.postgres``,
server name ``pytest-<pid>``) and stops and removes it at the end. To use a server you already run instead, set
``REPLICATION_TEST_POSTGRES_URL`` to a superuser URL, e.g. ``postgresql://postgres:pw@127.0.0.1:5433/postgres``.
Each test that asks for ``fresh_database`` gets a new, empty database, dropped afterwards.

``astro dev pytest`` runs this suite in the Astro image, which has requirements.txt but not the
dev-only packages of requirements-dev.in (sqlglot, the PostgreSQL wheel): what needs one skips,
naming it. ``make test`` sets ``REPLICATION_TEST_STRICT=1``, under which such a test fails instead.
"""

from __future__ import annotations

import importlib
import os
import re
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[1]
TEST_URL_ENV = "REPLICATION_TEST_POSTGRES_URL"
STRICT_ENV = "REPLICATION_TEST_STRICT"
STACKEXCHANGE_DIR = PROJECT_DIR.parent / "shared" / "data" / "stackexchange"

# Airflow reads its configuration when first imported: give the test session its own home
# (a throwaway SQLite metadata database) before any test module imports it.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-pytest-")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(PROJECT_DIR / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.setdefault("PYTHONPATH", str(PROJECT_DIR))


def missing_dev_dependency(message: str) -> NoReturn:
    """Skip the test for a dev-only dependency that is absent; fail instead under ``make test``."""
    if os.environ.get(STRICT_ENV):
        pytest.fail(f"{message} ({STRICT_ENV} is set: make test runs every test)", pytrace=False)
    pytest.skip(message)


def dev_package(name: str) -> ModuleType:
    """Import a package that only requirements-dev.in installs, or skip the test that needs it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing_dev_dependency(f"{name} is not installed: a dev-only package (requirements-dev.in), not in the image")


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """Create the session's Airflow metadata database (what ``dag.test()`` records runs in)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, env=os.environ.copy()
    )
    return os.environ["AIRFLOW_HOME"]


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """Superuser URL of a running PostgreSQL (the project's throwaway server unless overridden)."""
    given = os.environ.get(TEST_URL_ENV)
    if given:
        yield given
        return
    from localdev import postgres

    try:
        postgres.find_bin_dir()
    except RuntimeError as exc:
        missing_dev_dependency(f"{exc}; or set {TEST_URL_ENV} to a PostgreSQL superuser URL")
    # One server per session: two sessions sharing one would stop it under each other.
    name = f"pytest-{os.getpid()}"
    server = postgres.start(name)
    try:
        yield server.url()
    finally:
        postgres.stop(name)
        postgres.remove(name)


def database_url(server_url: str, database: str) -> str:
    """Return ``server_url`` pointing at ``database`` instead."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path="/" + database))


@pytest.fixture
def fresh_database(pg_server_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of a new empty database, named after the test, dropped after it."""
    from pg8000.native import identifier

    from include.stackoverflow.database import connect

    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:40] + "_" + secrets.token_hex(3)
    admin = connect(pg_server_url)
    try:
        admin.run(f"CREATE DATABASE {identifier(name)}")
        yield database_url(pg_server_url, name)
    finally:
        admin.run(f"DROP DATABASE IF EXISTS {identifier(name)} WITH (FORCE)")
        admin.close()


def stackexchange_sites() -> list[Path]:
    """Every dump folder under ../shared/data/stackexchange (empty when the folder is absent)."""
    if not STACKEXCHANGE_DIR.is_dir():
        return []
    return sorted(p for p in STACKEXCHANGE_DIR.iterdir() if p.is_dir())


def require_stackexchange_dir() -> None:
    if not STACKEXCHANGE_DIR.is_dir():
        pytest.skip(
            f"Stack Exchange dumps not found at {STACKEXCHANGE_DIR}: the real-data tests need the "
            "shared data folder beside the project (see README, 'Real data')"
        )
