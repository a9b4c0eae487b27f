"""The benchmark's databases on the throwaway server ``bench``: one source built once, one target emptied per run."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from pg8000.native import identifier, literal

from include.stackoverflow.database import connect
from include.stackoverflow.generate import generate
from include.stackoverflow.schema import TABLES
from localdev import postgres

SERVER_NAME = "bench"
TARGET_DATABASE = "bench_target"
METADATA_DATABASE = "bench_airflow_meta"
TABLE_NAMES = tuple(t.name for t in TABLES)


@dataclass(frozen=True)
class SourceTable:
    """A source table as every contender sees it: rows and the size of its COPY text (the MB of MB/s)."""

    name: str
    rows: int
    bytes: int


class _Counter:
    """A write-only stream that only counts bytes (pg8000 ``COPY ... TO STDOUT`` target)."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self.bytes += len(data)


def source_database(scale: float) -> str:
    """Name of the generated source for ``scale``: built once, reused by later runs at the same scale and seed."""
    return "bench_source_" + f"{scale:g}".replace(".", "_")


def prepare_source(server: postgres.LocalServer, *, scale: float, seed: int, regenerate: bool) -> tuple[str, bool]:
    """Return the source URL and whether it was (re)built now; reuse needs the marker of the same scale and seed."""
    url = postgres.create_database(server, source_database(scale))
    marker = f"bench source: generated at scale {scale:g}, seed {seed}"
    conn = connect(url)
    try:
        found = conn.run(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()"
        )
        if not regenerate and found[0][0] == marker:
            return url, False
        conn.run(f"COMMENT ON DATABASE {identifier(source_database(scale))} IS NULL")  # unfinished until re-marked
    finally:
        conn.close()
    generate(url, scale=scale, seed=seed)
    conn = connect(url)
    try:
        conn.run("VACUUM ANALYZE")  # every contender then reads a settled, all-visible source
        conn.run(f"COMMENT ON DATABASE {identifier(source_database(scale))} IS {literal(marker)}")
    finally:
        conn.close()
    return url, True


def measure_source(url: str) -> list[SourceTable]:
    """Rows and COPY text bytes of each of the nine tables, largest first (read once, outside any timing)."""
    conn = connect(url)
    try:
        found = []
        for name in TABLE_NAMES:
            counter = _Counter()
            conn.run(f"COPY {identifier(name)} TO STDOUT", stream=counter)
            rows = conn.run(f"SELECT count(*) FROM {identifier(name)}")[0][0]
            found.append(SourceTable(name=name, rows=rows, bytes=counter.bytes))
    finally:
        conn.close()
    return sorted(found, key=lambda t: -t.bytes)


def reset_database(server: postgres.LocalServer, name: str) -> str:
    """Drop ``name`` (closing its sessions) and create it empty; return its URL."""
    conn = connect(server.url())
    try:
        conn.run(f"DROP DATABASE IF EXISTS {identifier(name)} WITH (FORCE)")
    finally:
        conn.close()
    return postgres.create_database(server, name)


def row_counts(url: str, tables: list[str]) -> dict[str, int | None]:
    """``count(*)`` of each table in ``url`` (None where the table does not exist), to check a contender's copy."""
    conn = connect(url)
    try:
        present = {row[0] for row in conn.run("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        return {t: conn.run(f"SELECT count(*) FROM {identifier(t)}")[0][0] if t in present else None for t in tables}
    finally:
        conn.close()


def server_version(url: str) -> str:
    conn = connect(url)
    try:
        return conn.run("SHOW server_version")[0][0]
    finally:
        conn.close()


def libpq_target(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, and an environment with ``PGPASSWORD``: no password on a command line."""
    parts = urlsplit(url)
    netloc = f"{parts.username}@{parts.hostname}:{parts.port}"
    env = {**os.environ, "PGPASSWORD": unquote(parts.password or "")}
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), env
