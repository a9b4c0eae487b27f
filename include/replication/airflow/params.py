"""The DAG Params both DAGs share, declared once (names are fixed: scripts pass them with --conf).

Params are Airflow objects; declaring them here keeps the DAG files wiring-only and the two DAGs
in step. Defaults and allowed values come from ``settings.py``, which validates what arrives.
"""

from __future__ import annotations

import os
from datetime import timedelta
from enum import StrEnum
from typing import Any

from airflow.sdk import Param

from include.replication.airflow import limits
from include.replication.settings import (
    DEFAULT_BUFFER_MB,
    DEFAULT_PARTITION_ROWS,
    DEFAULT_SOURCE_CONN_ID,
    DEFAULT_SQLSERVER_BUFFER_MB,
    DEFAULT_SQLSERVER_TARGET_CONN_ID,
    DEFAULT_TARGET_CONN_ID,
    ForeignKeyMode,
    LoadMode,
    NulPolicy,
    ReadMode,
    SettingsError,
    SnapshotMode,
    VerifyMode,
)

SCHEDULE_ENV = "STACKOVERFLOW_SCHEDULE"  # every DAG's; STACKOVERFLOW_SCHEDULE__<DAG_ID> for one
LOAD_MODE_ENV = "STACKOVERFLOW_LOAD_MODE"  # the load_mode Param's default, e.g. sync for a scheduled replica
RETRIES_ENV = "STACKOVERFLOW_TASK_RETRIES"
RETRY_DELAY_ENV = "STACKOVERFLOW_RETRY_DELAY_SECONDS"


def task_defaults() -> dict[str, Any]:
    """Every task's retries: 2, the first after 30 s, backing off; the environment may change both.

    Read when the DAG file is parsed, so set them where the DAG processor and workers run
    (the fault tests under the real scheduler use a 2 s delay). Every task has an
    ``execution_timeout``, scaled to its table's size for those that move data (``limits.py``).
    """
    return {
        "retries": int(os.environ.get(RETRIES_ENV, "2")),
        "retry_delay": timedelta(seconds=float(os.environ.get(RETRY_DELAY_ENV, "30"))),
        "retry_exponential_backoff": True,
        "execution_timeout": limits.DEFAULT_TIMEOUT,
        "pre_execute": limits.scale_timeout,
    }


def schedule(dag_id: str) -> str | None:
    """The DAG's schedule from the environment (``@daily``, a cron expression, ...); unset: manual runs only.

    ``STACKOVERFLOW_SCHEDULE__<DAG_ID>`` (upper case) wins over ``STACKOVERFLOW_SCHEDULE``. Read when
    the DAG file is parsed: set it where the DAG processor runs (``.env`` under Astro).
    """
    value = os.environ.get(f"{SCHEDULE_ENV}__{dag_id.upper()}") or os.environ.get(SCHEDULE_ENV) or ""
    return value.strip() or None


def default_load_mode() -> str:
    """``load_mode``'s default: ``STACKOVERFLOW_LOAD_MODE`` when set (a scheduled run takes the default), else replace.

    The bulk DAG ignores it: its loads always replace.
    """
    value = os.environ.get(LOAD_MODE_ENV, "").strip() or LoadMode.REPLACE.value
    if value not in _values(LoadMode):
        raise SettingsError(f"{LOAD_MODE_ENV} must be one of {', '.join(_values(LoadMode))}; got {value!r}")
    return value


def replication_params() -> dict[str, Param]:
    """Params of every replication DAG: connections, schemas, table selection, NUL policy, verification."""
    return {
        "source_conn_id": Param(DEFAULT_SOURCE_CONN_ID, type="string", description="Airflow connection of the source (mssql or postgres)"),
        "target_conn_id": Param(DEFAULT_TARGET_CONN_ID, type="string", description="Airflow connection of the PostgreSQL target"),
        "source_schema": Param(None, type=["null", "string"], description="Source schema; empty: dbo (SQL Server) or public (PostgreSQL)"),
        "target_schema": Param("public", type="string", description="Target schema, created if missing"),
        "tables": Param([], type="array", items={"type": "string"}, description="Tables to copy; empty: every table in the source schema"),
        "exclude_tables": Param([], type="array", items={"type": "string"}, description="Tables to leave out"),
        "buffer_mb": Param(DEFAULT_BUFFER_MB, type="integer", minimum=1, description="In-memory spool per table (MB); beyond it, rows spill to disk"),
        "nul_policy": Param(NulPolicy.STRIP.value, enum=[NulPolicy.STRIP.value, NulPolicy.FAIL.value], description="NUL characters in text: strip (counted and reported) or fail"),
        "verify": Param(VerifyMode.CHECKSUMS.value, enum=_values(VerifyMode), description="How each copy is proven against its source"),
        "load_mode": Param(default_load_mode(), enum=_values(LoadMode), description="replace: staging table swapped in; append: add rows; sync: re-copy only the key ranges that differ"),
        "source_read_mode": Param(ReadMode.COPY.value, enum=_values(ReadMode), description="PostgreSQL sources: COPY TO STDOUT, or row fetch + encoder (the SQL Server path)"),
        "source_snapshot": Param(SnapshotMode.AUTO.value, enum=_values(SnapshotMode), description="auto: copy and verify each table in one source snapshot where the source allows it, else re-copy what changed; require: fail without one; off: no snapshot"),
        "foreign_keys": Param(ForeignKeyMode.OFF.value, enum=_values(ForeignKeyMode), description="After every table is loaded, create foreign keys on the target: off; source: those the source declares; stackoverflow: those plus StackOverflow's undeclared references. Dangling references are counted and reported, the key left NOT VALID"),
    }  # fmt: skip


def bulk_params() -> dict[str, Param]:
    """The bulk DAG's Params: the shared ones, replace-only loads, plus partitioning and staging."""
    return {
        **replication_params(),
        "buffer_mb": Param(DEFAULT_BUFFER_MB, type="integer", minimum=1, description="Not used: staged files need no spool (kept so one --conf fits both DAGs)"),
        "load_mode": Param(LoadMode.REPLACE.value, enum=[LoadMode.REPLACE.value], description="Bulk loads always replace (staging table swapped in); use the streaming DAG to sync"),
        "partition_rows": Param(DEFAULT_PARTITION_ROWS, type="integer", minimum=1, description="Rows per partition (about)"),
        "staging_url": Param("", type="string", description="Where partitions are staged: a folder or object-storage URL; empty: $AIRFLOW_HOME/replication-staging"),
    }  # fmt: skip


def target_params() -> dict[str, Param]:
    """The SQL Server to SQL Server DAG's Params: the shared ones, a SQL Server target, NUL kept, 128 MB spools."""
    return {
        **replication_params(),
        "target_conn_id": Param(DEFAULT_SQLSERVER_TARGET_CONN_ID, type="string", description="Airflow connection of the SQL Server target (mssql)"),
        "target_schema": Param("dbo", type="string", description="Target schema, created if missing"),
        "buffer_mb": Param(DEFAULT_SQLSERVER_BUFFER_MB, type="integer", minimum=1, description="In-memory spool per table (MB); beyond it, rows spill to disk"),
        "nul_policy": Param(NulPolicy.KEEP.value, enum=_values(NulPolicy), description="NUL characters in text: keep (SQL Server text holds them), strip (counted) or fail"),
    }  # fmt: skip


def _values(kind: type[StrEnum]) -> list[str]:
    return [member.value for member in kind]
