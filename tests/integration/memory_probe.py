"""Copy one table in this process and report its peak memory: run by test_memory_bound.py.

python -m tests.integration.memory_probe SOURCE_URL TARGET_URL TABLE READ_MODE BUFFER_MB
"""

from __future__ import annotations

import json
import sys

from include.replication.load import LoadSettings, peak_memory_mb, replicate_table
from include.replication.mssql.types import map_table
from include.replication.postgres.source import PostgresDialect, prepare_session
from include.stackoverflow.database import connect


def main(source_url: str, target_url: str, table_name: str, read_mode: str, buffer_mb: str) -> None:
    source, target = connect(source_url), connect(target_url)
    prepare_session(source)
    dialect = PostgresDialect(read_mode)
    table = next(t for t in dialect.fetch_tables(source, "public") if t.name == table_name)
    columns = map_table(table, dialect="postgres")
    before = peak_memory_mb()
    report = replicate_table(
        source=dialect,
        source_conn=source,
        target_conn=target,
        table=table,
        columns=columns,
        settings=LoadSettings(buffer_mb=int(buffer_mb), verify="checksums"),
    )
    print(
        json.dumps(
            {
                "peak_before_mb": before,
                "peak_after_mb": peak_memory_mb(),
                "bytes": report.stats.bytes,
                "spilled_bytes": report.stats.spilled_bytes,
                "rows": report.stats.rows,
                "checksum_match": report.verification.checksum_match,
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
