"""
### Replicate StackOverflow from SQL Server to SQL Server

Refreshes a reporting or test SQL Server from production: every table of the source database
(SQL Server `dbo` via pymssql) is copied into the SQL Server named by `target_conn_id` (an `mssql`
connection, `stackoverflow_target` by default), one task per table, shown in the same four groups
as the PostgreSQL DAGs (lookups, users, posts and badges, post dependents) and, as there, all
started once the plan is ready, largest first, as the pool `source_read_sessions` allows.

Types are kept as they are (a rowversion's bytes land in `binary(8)`: the server writes
rowversions), every digit is read (`datetime2(7)`, offsets of `datetimeoffset`), and ids are
copied as they are under `SET IDENTITY_INSERT`. Each table streams through a bounded spool
(`buffer_mb`, 128 MB by default) into `<table>__staging` in multi-row INSERTs; the clustered
primary key and the source's indexes are built, the copy is **verified against the source**
(`verify`: `checksums` compares per-row hashes by key range, both sides in T-SQL), and only then
swapped in with `sp_rename` and the identity reseeded past `max(Id)` with `DBCC CHECKIDENT`,
within one transaction: readers see the old table or the new one, and a re-run never duplicates
rows. NUL characters are kept (`nul_policy=keep`): SQL Server text can hold them.

**Foreign keys** (`foreign_keys`, default `off`): the target's keys from or to the run's tables
are dropped before the loads and put back after them, with those asked for (`source`,
`stackoverflow`), each added `WITH NOCHECK` and then checked (`WITH CHECK CHECK CONSTRAINT`): one
that rows violate stays untrusted, and its dangling rows are counted and sampled in the summary.
A server that refuses `WITH NOCHECK` (Babelfish) gets each key added checked; one its rows violate
is then reported as not created.

Params can be passed with `--conf`, e.g. `{"tables": ["Users"], "target_conn_id": "reporting_sql"}`.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import chain, dag

from include.replication.airflow.params import schedule, target_params, task_defaults
from include.replication.airflow.tasks import (
    create_foreign_keys,
    discover_tables,
    release_foreign_keys,
    replicate_by_level,
    summarize,
)

DAG_ID = "replicate_stackoverflow_to_target"


@dag(
    dag_id=DAG_ID,
    schedule=schedule(DAG_ID),
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["replication", "stackoverflow", "mssql", "streaming"],
    doc_md=__doc__,
    default_args=task_defaults(),
    params=target_params(),
)
def replicate_stackoverflow_to_target():
    plan = discover_tables()
    released = release_foreign_keys(plan)
    groups, reports = replicate_by_level(plan)  # not chained: every table starts once the keys are released
    keys = create_foreign_keys(plan, released)
    chain(released, groups, keys, summarize(tables=reports, keys=keys))


replicate_stackoverflow_to_target()
