"""Copy one table in this process and report its peak memory: run by test_memory_bound.py.

.venv/bin/python -m tests.integration.memory_probe SOURCE_URL TARGET_URL TABLE READ_MODE BUFFER_MB
"""

from __future__ import annotations

import json
import sys

from include.replication.load import replicate_table
from include.replication.plan import TableJob
from include.replication.postgres.source import PostgresSource
from include.replication.postgres.target import PostgresTarget
from include.replication.report import peak_memory_mb
from include.replication.settings import ReadMode, ReplicationSettings
from include.stackoverflow.database import connect


def main(source_url: str, target_url: str, table_name: str, read_mode: str, buffer_mb: str) -> None:
    source = PostgresSource(connect(source_url), ReadMode(read_mode))
    target = PostgresTarget(connect(target_url))
    table = next(t for t in source.fetch_tables("public") if t.name == table_name)
    job = TableJob(table, source.map_columns(table), ReplicationSettings(buffer_mb=int(buffer_mb)))
    before = peak_memory_mb()
    report = replicate_table(job, source=source, target=target)
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
