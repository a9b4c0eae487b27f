"""
### Replicate StackOverflow to PostgreSQL — streaming

Copies every table of the source database (SQL Server `dbo` via pymssql, or PostgreSQL `public`
via pg8000) into PostgreSQL 16, one task per table, shown in four groups: lookups, users, posts and
badges, post dependents. Tables found in the source beyond the nine StackOverflow2010 tables are
mapped into the group their foreign keys (or the last group) call for. The groups do not order
the loads: every table starts as soon as the plan is ready, **largest first** (Posts, Votes,
Comments, Badges, Users, PostLinks, the lookups), as many at once as the pool
`source_read_sessions` and the executor allow.

Each table streams from the source through a bounded spool (`buffer_mb` in memory, spilling to
disk) into `COPY … FROM STDIN` on a staging table; the primary key and indexes are built, the copy
is **verified against the source** (`verify`: `checksums` compares per-row hashes by key range,
`counts` compares row counts), and only then swapped in, within one transaction: readers never see
a half-loaded table and a re-run never duplicates rows. Identity columns become
`GENERATED ALWAYS AS IDENTITY`, aligned past `max(Id)`. A table that another run (the bulk DAG,
say) is writing on the same target is waited for, never written at the same time. Table tasks take
a slot of the pool `source_read_sessions` and have an `execution_timeout` scaled to their rows.

**Foreign keys** (`foreign_keys`, default `off`): none is in force while tables load.
`release_foreign_keys` drops the target's keys from or to the run's tables (so a table another
references can be replaced); once every table has loaded, `create_foreign_keys` puts them back and
adds those asked for (`source`: the source's declared keys; `stackoverflow`: those plus
StackOverflow's undeclared references), each `NOT VALID`, then `VALIDATE`d. Rows that reference
a missing row (real StackOverflow data has them) leave the key NOT VALID and are listed in the
summary with a count and sample keys; the run does not fail over them.

Params can be passed with `--conf`, e.g. `{"tables": ["Users"], "verify": "counts"}`.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import chain, dag

from include.replication.airflow.params import replication_params, schedule, task_defaults
from include.replication.airflow.tasks import (
    create_foreign_keys,
    discover_tables,
    release_foreign_keys,
    replicate_by_level,
    summarize,
)

DAG_ID = "replicate_stackoverflow_to_postgres_parallel"


@dag(
    dag_id=DAG_ID,
    schedule=schedule(DAG_ID),
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["replication", "stackoverflow", "postgres", "streaming"],
    doc_md=__doc__,
    default_args=task_defaults(),
    params=replication_params(),
)
def replicate_stackoverflow_to_postgres_parallel():
    plan = discover_tables()
    released = release_foreign_keys(plan)
    groups, reports = replicate_by_level(plan)  # not chained: every table starts once the keys are released
    keys = create_foreign_keys(plan, released)
    chain(released, groups, keys, summarize(tables=reports, keys=keys))


replicate_stackoverflow_to_postgres_parallel()
