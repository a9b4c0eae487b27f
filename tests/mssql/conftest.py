"""Fixtures for the tests that run against a real SQL Server; without ``REPLICATION_TEST_MSSQL_URL`` all are skipped.

Set ``REPLICATION_TEST_MSSQL_URL=mssql://user:password@host:port/database`` (see README.md here).
The session then checks the server once, first, so that a wrong URL or a stopped container fails
every test here within seconds with the same message instead of hanging. Each session works in
its own scratch database, dropped at the end; the PostgreSQL side is the suite's usual throwaway
server (``tests/conftest.py``).

A server that is not SQL Server but speaks its protocol (Babelfish for PostgreSQL) is probed once,
first, for what the tests need (``mssql_helpers.probe_traits``); the tests skip or adapt only for
a deviation a probe found, saying which, and the deviations are listed at the end of the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.mssql.mssql_helpers import (
    LOGIN_TIMEOUT_S,
    MIN_MAJOR_VERSION,
    MSSQL_URL_ENV,
    SKIP_REASON,
    STACKOVERFLOW2010,
    MssqlServer,
    ServerTraits,
    database_state,
    driver_message,
    probe_traits,
    query,
    scratch_database,
)

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without a server URL, mark every test in this folder skipped (before any fixture, PostgreSQL included, starts)."""
    if os.environ.get(MSSQL_URL_ENV):
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(skip)


PROBED: list[ServerTraits] = []  # the session's traits, for the terminal summary


@pytest.fixture(scope="session", autouse=True)
def mssql_server() -> MssqlServer:
    """The server from the URL, reachable, SQL Server 2016 or later, its traits probed; set up before anything else here."""
    server, problem = check_server(os.environ[MSSQL_URL_ENV])
    if problem:  # failed outside the except blocks: the message, not the driver's traceback chain
        pytest.fail(problem, pytrace=False)
    assert server is not None
    traits = probe_traits(server)
    PROBED.append(traits)
    return replace(server, traits=traits)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """List what the session's probes found this server does differently from SQL Server (nothing, on SQL Server)."""
    for traits in PROBED:
        deviations = traits.deviations()
        terminalreporter.section("tests/mssql: server deviations from SQL Server (probed at session start)")
        if not deviations:
            terminalreporter.write_line("none: every probe behaved as SQL Server does")
        for deviation in deviations:
            terminalreporter.write_line(f"- {deviation}")
        if traits.capabilities.describe():
            terminalreporter.write_line(
                f"- the product's own probe (mssql.capabilities): {traits.capabilities.describe()}"
            )


def check_server(url: str) -> tuple[MssqlServer | None, str | None]:
    """(the server, None), or (None, what is wrong) naming the URL without its password."""
    try:
        server = MssqlServer.from_url(url)
    except ValueError as exc:
        return None, str(exc)
    try:
        conn = server.connect()
    except ConnectionError as exc:
        cause = driver_message(exc.__cause__, server.password) if exc.__cause__ else ""
        return None, (
            f"{MSSQL_URL_ENV}={server.describe()}: {exc} (login timeout {LOGIN_TIMEOUT_S} s): {cause}. "
            "Is the container running and healthy? See tests/mssql/README.md"
        )
    try:
        major, version = query(conn, "SELECT CONVERT(int, SERVERPROPERTY('ProductMajorVersion')), @@VERSION")[0]
    finally:
        conn.close()
    if major < MIN_MAJOR_VERSION:
        return None, (
            f"{server.describe()} is SQL Server major version {major}; the project needs 2016 (13) or later "
            f"(2016 and 2017, without UTF-8 collations, have their checksums finished by the client): "
            f"{version.splitlines()[0]}"
        )
    return server, None


@pytest.fixture(scope="session")
def mssql_scratch(mssql_server: MssqlServer) -> Iterator[str]:
    """A scratch database for the session's own tables (each test names its tables uniquely); dropped at the end."""
    with scratch_database(mssql_server, "replication_test") as name:
        yield name


@pytest.fixture
def mssql_conn(mssql_server: MssqlServer, mssql_scratch: str) -> Iterator[Any]:
    """A pymssql connection to the scratch database, opened with the project's ``connect_mssql``."""
    conn = mssql_server.connect(mssql_scratch)
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture(scope="session")
def stackoverflow2010(mssql_server: MssqlServer) -> str:
    """The attached StackOverflow2010 database's name; skips the test when it is not attached."""
    state = database_state(mssql_server, STACKOVERFLOW2010)
    if state is None:
        pytest.skip(
            f"database {STACKOVERFLOW2010} is not attached on {mssql_server.describe()}: run "
            "scripts/mssql/download_stackoverflow2010.sh, then scripts/mssql/attach_stackoverflow2010.sh "
            "(see tests/mssql/README.md)"
        )
    if state != "ONLINE":
        pytest.fail(f"database {STACKOVERFLOW2010} on {mssql_server.describe()} is {state}, not ONLINE", pytrace=False)
    return STACKOVERFLOW2010
