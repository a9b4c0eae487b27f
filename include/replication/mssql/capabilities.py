"""What this SQL Server can do, probed once per connection: the one place the engine adapts to a server.

SQL Server 2016 and 2017 have no UTF-8 collations; Babelfish for PostgreSQL (SQL Server's
protocol and T-SQL over PostgreSQL) has none either, writes no hex with CONVERT style 2, cannot
hold U+0000 in text and has no statistics histogram. Each difference is a capability tested by
what the server does, never by its name or version string, and each has one consumer:

- ``utf8_collation`` and ``hex_style``: both, and the checksums are hashed on the server; else
  the server computes each value's canonical text and the client hashes it (``checksums.py``).
- ``stats_histogram``: the partition planner reads ``sys.dm_db_stats_histogram``; else it takes
  exact quantiles of the key in one ordered scan (``catalog.key_distribution``).
- ``holds_nul``: whether text can contain U+0000 at all (tests/mssql skips the NUL cases without it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from include.replication.mssql.dialect import fetch_all

PROBE_SQL = """
SELECT
  CASE WHEN EXISTS (SELECT 1 FROM sys.fn_helpcollations() WHERE name = 'Latin1_General_100_BIN2_UTF8')
       THEN 1 ELSE 0 END,
  CASE WHEN CONVERT(varchar(4), 0x0AFF, 2) = '0AFF' THEN 1 ELSE 0 END,
  CASE WHEN OBJECT_ID('sys.stats_columns') IS NOT NULL AND OBJECT_ID('sys.dm_db_stats_histogram') IS NOT NULL
       THEN 1 ELSE 0 END,
  CASE WHEN NCHAR(0) IS NULL THEN 0 ELSE 1 END
"""


@dataclass(frozen=True)
class Capabilities:
    """The server differences the engine adapts to (see the module's docstring)."""

    utf8_collation: bool = True
    hex_style: bool = True
    stats_histogram: bool = True
    holds_nul: bool = True

    @property
    def hashes_on_server(self) -> bool:
        """Whether the whole checksum can be computed in T-SQL (SQL Server 2019 and later)."""
        return self.utf8_collation and self.hex_style

    def describe(self) -> str:
        """What differs from SQL Server 2019, for the task log; empty when nothing does."""
        missing = [name for name, ok in vars(self).items() if not ok]
        return f"this server lacks: {', '.join(missing)}" if missing else ""


SQL_SERVER_2019 = Capabilities()


def probe(conn: Any) -> Capabilities:
    """One round trip: the capabilities of the server ``conn`` is connected to."""
    utf8, hex_style, histogram, nul = fetch_all(conn, PROBE_SQL)[0]
    return Capabilities(
        utf8_collation=bool(utf8), hex_style=bool(hex_style), stats_histogram=bool(histogram), holds_nul=bool(nul)
    )
