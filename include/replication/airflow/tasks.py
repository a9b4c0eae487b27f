"""The streaming DAG's ``@task`` wrappers, and the ones both DAGs share (plan, summary, Assets).

Each wrapper opens connections, calls the Airflow-free core and returns plain dicts for XCom.
Failed checks and plans that cannot work raise ``AirflowFailException`` (not retried: the data
or the catalog would say the same again); everything else may be retried.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Sequence
from contextlib import contextmanager
from typing import Any

from airflow.sdk import Asset, AssetAlias, TaskGroup, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from include.replication.airflow.connections import (
    ConnectionConfigError,
    engine_of,
    get_connection,
    open_source,
    open_target,
)
from include.replication.airflow.limits import SOURCE_POOL
from include.replication.airflow.lineage import report_lineage, table_uri
from include.replication.airflow.staging import refuse_unshared_staging
from include.replication.interfaces import Source, Target
from include.replication.levels import LEVEL_NAMES, STATIC_TABLES
from include.replication.load import replicate_table
from include.replication.plan import PlanError, ReplicationPlan, build_plan
from include.replication.report import (
    PartitionReport,
    TableReport,
    partition_table,
    run_summary,
    summary_table,
    verification_table,
    with_partitions,
)
from include.replication.settings import (
    LoadMode,
    ReplicationSettings,
    SettingsError,
    SnapshotMode,
    reject_unknown_params,
)
from include.replication.verify import VerificationFailed

log = logging.getLogger(__name__)

REPLICATED_TABLES = AssetAlias("stackoverflow_replicated_tables")


def close_quietly(*connected: Source | Target) -> None:
    """Close connections; closing a broken one must not hide the error that broke it."""
    for side in connected:
        try:
            side.close()
        except Exception:
            pass


@contextmanager
def connected(run: ReplicationPlan) -> Generator[tuple[Source, Target], None, None]:
    """The run's source and target, open for the block and closed after it."""
    settings = run.settings
    source = open_source(settings.source_conn_id, read_mode=settings.source_read_mode, target_engine=run.target_engine)
    try:
        target = open_target(settings.target_conn_id, engine=run.target_engine)
    except BaseException:
        close_quietly(source)
        raise
    try:
        yield source, target
    finally:
        close_quietly(source, target)


@contextmanager
def failing_checks() -> Generator[None, None, None]:
    """A failed verification, an impossible plan or a configuration error fails the task without retries.

    Retrying cannot change them, and queued runs would wait behind the retries (max_active_runs=1).
    """
    try:
        yield
    except VerificationFailed as exc:
        raise AirflowFailException(f"verification failed, target table left unchanged:\n{exc}") from exc
    except (PlanError, SettingsError, ConnectionConfigError) as exc:
        raise AirflowFailException(str(exc)) from exc


@task(multiple_outputs=False)  # one plan dict, passed whole to every table task
def discover_tables() -> dict[str, Any]:
    """Read the source catalog, select tables, map every type and check the target: all before any data moves."""
    with failing_checks():
        context = get_current_context()
        reject_unknown_params(context["dag_run"].conf or {}, declared=context["dag"].params.keys())
        refuse_unshared_staging(context["params"], task_executor=context["task"].executor)
        settings = ReplicationSettings.from_params(context["params"])
        target_engine = engine_of(settings.target_conn_id)
        source = open_source(settings.source_conn_id, read_mode=settings.source_read_mode, target_engine=target_engine)
        try:
            schema = settings.source_schema or source.default_schema
            plan = build_plan(
                settings,
                source_engine=source.engine,
                source_schema=schema,
                tables=source.fetch_tables(schema),
                map_columns=source.map_columns,
                target_engine=target_engine,
            )
            if settings.source_snapshot == SnapshotMode.REQUIRE:
                with source.snapshot() as snapshot:
                    if not snapshot.taken:
                        raise PlanError(f"source_snapshot=require, but the source gives {snapshot.description}")
        finally:
            close_quietly(source)
        target = open_target(settings.target_conn_id, engine=target_engine)
        try:
            target.ensure_schema(settings.target_schema)
            if settings.load_mode == LoadMode.REPLACE:
                refuse_viewed_tables(plan, target)
        finally:
            close_quietly(target)
    log.info("Replicating %d tables from %s schema %s into %s: %s", len(plan.tables), plan.source_engine, schema,
             plan.target_engine, sorted(plan.tables))  # fmt: skip
    return plan.to_dict()


def refuse_viewed_tables(plan: ReplicationPlan, target: Target) -> None:
    """Fail before any data moves when a view depends on a table the run would replace (its DROP would fail)."""
    targets = [plan.job(name).target for name in plan.tables]
    viewed = {
        f"{table.qualified} (by {', '.join(views)})" for table in targets if (views := target.dependent_views(table))
    }
    if viewed:
        raise PlanError(
            f"views depend on target tables the run would replace: {', '.join(sorted(viewed))}. Drop them and "
            "re-create them after the run, or use load_mode=append, which keeps the tables"
        )


@task(trigger_rule="none_failed")
def list_other_tables(plan: dict[str, Any], level: int) -> list[str]:
    """The discovered tables beyond the nine that belong to ``level`` (mapped over; may be empty)."""
    return ReplicationPlan.from_dict(plan).other_tables(level)


@task(multiple_outputs=False, trigger_rule="none_failed", outlets=[REPLICATED_TABLES], pool=SOURCE_POOL)
def replicate(table_name: str, plan: dict[str, Any]) -> dict[str, Any]:
    """Copy one table into the target, verify it and swap it in; return its run-summary row.

    ``replicate_other_tables`` is this task mapped over the tables found beyond the nine: when the
    source has none, it has nothing to map over and shows as skipped.
    """
    run = ReplicationPlan.from_dict(plan)
    if table_name not in run.tables:
        raise AirflowSkipException(f"{table_name} is not selected or not in source schema {run.source_schema!r}")
    job = run.job(table_name)
    report_lineage(run, table_name)
    with failing_checks(), connected(run) as (source, target):
        report = replicate_table(job, source=source, target=target, on_progress=log.info)
    stats = report.stats
    steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in stats.phases.items())
    log.info(
        "%s: %s rows, %.1f MB in %.1f s (%s rows/s; %s), peak memory %.0f MB, spilled %.1f MB%s",
        stats.table, f"{stats.rows:,}", stats.bytes / 2**20, stats.seconds, f"{stats.rows_per_second:,.0f}", steps,
        stats.peak_memory_mb, stats.spilled_bytes / 2**20,
        f", NUL stripped {stats.nul_stripped}" if stats.nul_stripped else "",
    )  # fmt: skip
    emit_asset(run, table_name)
    return report.to_dict()


def emit_asset(run: ReplicationPlan, table: str) -> None:
    """Record the target table as an Asset (through the alias: names are known only at run time).

    ``postgres://host:port/database/schema/table`` or ``mssql://host:port/database/schema/table``.
    """
    settings = run.settings
    uri = table_uri(get_connection(settings.target_conn_id), run.target_engine, run.job(table).target)
    get_current_context()["outlet_events"][REPLICATED_TABLES].add(
        Asset(uri=uri, name=f"{settings.target_schema}.{table}")
    )


@task(multiple_outputs=False, trigger_rule="none_failed")
def summarize(tables: list[Any], partitions: Any = ()) -> dict[str, Any]:
    """Log the run summary and the verification table from the table (and partition) reports; return them.

    ``tables``: the reports of the table tasks (None for a table that was skipped; a list for a
    mapped task). ``partitions``: the bulk DAG's partition reports.
    """
    staged = [PartitionReport.from_dict(p) for p in _flatten([partitions])]
    reports = [with_partitions(TableReport.from_dict(r), staged) for r in _flatten(tables)]
    log.info("Verification:\n%s", verification_table([r.verification for r in reports]))
    log.info("Run summary:\n%s", summary_table([r.stats for r in reports]))
    if staged:
        log.info("Partitions:\n%s", partition_table(staged))
    return run_summary(reports, staged)


def replicate_by_level(plan: Any) -> tuple[list[TaskGroup], list[Any]]:
    """Wiring for the DAGs that copy table by table: a TaskGroup per dependency level, in order.

    Each level holds a task per known table and a mapped task for the discovered extras
    (``list_other_tables``). Returns the groups, to chain, and every table task's output, for
    ``summarize``. Call inside a DAG.
    """
    groups, reports = [], []
    for level, name in enumerate(LEVEL_NAMES):
        with TaskGroup(group_id=name, tooltip=f"Level {level}: {', '.join(STATIC_TABLES[level])}") as group:
            for table in STATIC_TABLES[level]:
                reports.append(replicate.override(task_id=f"replicate_{table}")(table_name=table, plan=plan))
            others = list_other_tables(plan, level)
            mapped = replicate.override(task_id="replicate_other_tables").partial(plan=plan).expand(table_name=others)
            reports.append(mapped)
        groups.append(group)
    return groups, reports


def _flatten(values: Sequence[Any]) -> list[dict[str, Any]]:
    """Reports from task outputs: one dict, None (skipped), or a sequence of them (a mapped task's)."""
    found: list[dict[str, Any]] = []
    for value in values:
        if isinstance(value, dict):
            found.append(value)
        elif value is not None and not isinstance(value, str):
            # By index up to its length: iterating a mapped task's lazy sequence asks for one item
            # past the end, which the task SDK logs as an error ("XCom not found").
            found.extend(_flatten([value[i] for i in range(len(value))]))
    return found
