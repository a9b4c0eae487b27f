"""Fixtures for the end-to-end tests."""

from __future__ import annotations

import pytest

from include.stackoverflow.database import connect
from tests.conftest import database_url


@pytest.fixture
def target_database(pg_server_url, fresh_database):
    """A second fresh database on the same server, for the target."""
    name = fresh_database.rsplit("/", 1)[1] + "_target"
    admin = connect(pg_server_url)
    admin.run(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(pg_server_url, name)
    finally:
        admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
