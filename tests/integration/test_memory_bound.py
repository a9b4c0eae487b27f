"""A table many times larger than the spool copies exactly, and the copying process's memory stays bounded.

Peak memory is the process's resident high-water mark (ru_maxrss), measured in a fresh process
before and after the copy; no timing is asserted anywhere.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from include.stackoverflow.database import connect
from include.stackoverflow.generate import generate
from tests.conftest import database_url

BUFFER_MB = 4
# Allowance above the spool for what the copy itself holds: pg8000 messages, one FETCH batch of
# rows (rows mode: 5,000 Posts as Python objects), the encoder's output for that batch.
OVERHEAD_MB = 60


@pytest.fixture(scope="module")
def posts_source(pg_server_url):
    """A source whose Posts table (~80 MB of COPY text) is twenty times the 4 MB spool."""
    admin = connect(pg_server_url)
    admin.run("DROP DATABASE IF EXISTS t_memory_source WITH (FORCE)")
    admin.run("CREATE DATABASE t_memory_source")
    url = database_url(pg_server_url, "t_memory_source")
    generate(url, scale=0.02, seed=4)
    yield url
    admin.run("DROP DATABASE IF EXISTS t_memory_source WITH (FORCE)")
    admin.close()


@pytest.mark.parametrize("read_mode", ["copy", "rows"])
def test_large_table_small_buffer(posts_source, fresh_database, read_mode):
    """Posts copies with checksums matching while the process grows by at most the buffer plus a fixed allowance."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.integration.memory_probe", posts_source, fresh_database, "Posts", read_mode,
         str(BUFFER_MB)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["checksum_match"] is True
    assert probe["bytes"] > 15 * BUFFER_MB * 2**20, "the table must be much larger than the spool"
    assert probe["spilled_bytes"] >= 0
    growth = probe["peak_after_mb"] - probe["peak_before_mb"]
    print(
        f"{read_mode}: {probe['bytes'] / 2**20:.0f} MB copied, peak grew {growth:.1f} MB, spilled {probe['spilled_bytes'] / 2**20:.0f} MB"
    )
    assert growth < BUFFER_MB + OVERHEAD_MB
