"""
### Replicate StackOverflow to PostgreSQL — bulk, partitioned

For tables of tens of millions of rows, and for running past one machine. Each table is split
into primary-key ranges of about `partition_rows` rows, planned from the key's statistics (sparse
and skewed ids still give balanced ranges). Each partition is **extracted** to a file under
`staging_url` (a local folder by default; any object-storage URL such as `s3://bucket/prefix`, so
Celery or Kubernetes workers on different machines share it) and **loaded** with client-side
`COPY … FROM STDIN` into `<table>__bulk__staging`: one transaction per partition that first clears its
key range, so a failed partition is retried alone and never duplicates rows. Extraction of one
partition overlaps the loading of another. Loads take a slot of the pool
`postgres_copy_sessions` (env `STACKOVERFLOW_COPY_POOL`), which caps concurrent COPY sessions;
extracts and verifications take one of `source_read_sessions` (env `STACKOVERFLOW_SOURCE_POOL`).
Every task has an `execution_timeout` scaled to the rows it moves.

Partitions and swaps are mapped largest table first, in the streaming DAG's order (the
scheduler starts equal-weight mapped tasks in map-index order), and a partition once extracted
is loaded before the next is extracted, so loads overlap extracts. Once every partition has
loaded, each table is **verified against the source** (`verify`) and swapped in, in one
transaction, and its staged files are removed.

**Foreign keys** (`foreign_keys`, default `off`), as in the streaming DAG: the target's keys from or
to the run's tables are dropped before the swaps (`release_foreign_keys`) and put back after them
with those asked for (`create_foreign_keys`: `NOT VALID`, then `VALIDATE`; dangling rows counted
and sampled in the summary, never failing the run).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import chain, dag, task_group

from include.replication.airflow.bulk_tasks import (
    extract_partition,
    finish_table,
    list_tables,
    load_partition,
    plan_partitions,
    prepare_staging_tables,
)
from include.replication.airflow.params import bulk_params, schedule, task_defaults
from include.replication.airflow.tasks import (
    create_foreign_keys,
    discover_tables,
    release_foreign_keys,
    summarize,
)
from include.replication.levels import EXTRACT_PRIORITY, LOAD_PARTITION_PRIORITY


@task_group
def copy_partition(partition: dict, plan: dict):
    """One partition: extract to a staged file, then load it (mapped per partition: k+1 extracts while k loads)."""
    extract = extract_partition.override(priority_weight=EXTRACT_PRIORITY, weight_rule="absolute")
    load = load_partition.override(priority_weight=LOAD_PARTITION_PRIORITY, weight_rule="absolute")
    return load(extract(partition, plan), plan)


DAG_ID = "replicate_stackoverflow_to_postgres_bulk_parallel"


@dag(
    dag_id=DAG_ID,
    schedule=schedule(DAG_ID),
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["replication", "stackoverflow", "postgres", "bulk"],
    doc_md=__doc__,
    default_args=task_defaults(),
    params=bulk_params(),
)
def replicate_stackoverflow_to_postgres_bulk_parallel():
    plan = discover_tables()
    released = release_foreign_keys(plan)
    staging = prepare_staging_tables(plan)
    partitions = plan_partitions(plan)
    loaded = copy_partition.partial(plan=plan).expand(partition=partitions)
    finished = finish_table.partial(plan=plan).expand(table_name=list_tables(plan))
    keys = create_foreign_keys(plan, released)
    chain(plan, [staging, partitions], loaded, finished, keys, summarize(tables=finished, partitions=loaded, keys=keys))
    released >> finished  # the swaps drop tables a foreign key might reference; the staged loads need no wait


replicate_stackoverflow_to_postgres_bulk_parallel()
