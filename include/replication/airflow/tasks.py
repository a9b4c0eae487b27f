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

from include.replication import foreign_keys
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
from include.replication.foreign_keys import ForeignKeyReport, Reference
from include.replication.interfaces import Source, Target
from include.replication.levels import (
    LEVEL_NAMES,
    LIST_OTHER_TABLES_PRIORITY,
    LOAD_PRIORITY,
    OTHER_TABLES_PRIORITY,
    STATIC_TABLES,
)
from include.replication.load import replicate_table
from include.replication.models import TableName
from include.replication.plan import PlanError, ReplicationPlan, build_plan
from include.replication.report import (
    PartitionReport,
    TableReport,
    foreign_key_lines,
    partition_table,
    run_summary,
    summary_table,
    verification_table,
    with_partitions,
)
from include.replication.settings import (
    ForeignKeyMode,
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
def summarize(tables: list[Any], partitions: Any = (), keys: dict[str, Any] | None = None) -> dict[str, Any]:
    """Log the run summary and the verification table from the table (and partition) reports; return them.

    ``tables``: the reports of the table tasks (None for a table that was skipped; a list for a
    mapped task). ``partitions``: the bulk DAG's partition reports. ``keys``: what
    ``create_foreign_keys`` did.
    """
    staged = [PartitionReport.from_dict(p) for p in _flatten([partitions])]
    reports = [with_partitions(TableReport.from_dict(r), staged) for r in _flatten(tables)]
    settled = ForeignKeyReport.from_dict(keys) if keys else None
    log.info("Verification:\n%s", verification_table([r.verification for r in reports]))
    log.info("Run summary:\n%s", summary_table([r.stats for r in reports]))
    if staged:
        log.info("Partitions:\n%s", partition_table(staged))
    if lines := foreign_key_lines(settled):
        log.info("Foreign keys:\n%s", "\n".join(lines))
    return run_summary(reports, staged, keys=settled)


def run_targets(run: ReplicationPlan) -> list[TableName]:
    """The target tables the run writes."""
    return [run.job(name).target for name in run.tables]


@task(multiple_outputs=False)
def release_foreign_keys(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Drop the target's foreign keys from or to the tables the run writes, so they load in any order, at once.

    ``create_foreign_keys`` puts every one back after the loads. Nothing to drop (the usual case
    with ``foreign_keys=off``): one catalog query.
    """
    run = ReplicationPlan.from_dict(plan)
    target = open_target(run.settings.target_conn_id, engine=run.target_engine)
    try:
        released = foreign_keys.release_foreign_keys(target, schema=run.settings.target_schema,
                                                     tables=run_targets(run))  # fmt: skip
    finally:
        close_quietly(target)
    for reference in released:
        log.info("Dropped foreign key %s (%s) for the loads; create_foreign_keys puts it back after them",
                 reference.name, reference.describe())  # fmt: skip
    return [r.to_dict() for r in released]


# After every table task, none failed: a failed table is retried (or cleared) with its foreign
# keys still released, never meeting one put back under it.
@task(multiple_outputs=False, trigger_rule="none_failed")
def create_foreign_keys(plan: dict[str, Any], released: list[dict[str, Any]]) -> dict[str, Any]:
    """Once every table is loaded: put back the released foreign keys and create those ``foreign_keys`` asks for.

    Each is added unchecked and then validated; dangling references are counted and sampled, not
    fatal. With ``foreign_keys=off`` and nothing released, the target is not touched.
    """
    run = ReplicationPlan.from_dict(plan)
    settings = run.settings
    put_back = [Reference.from_dict(r) for r in released or []]
    if settings.foreign_keys == ForeignKeyMode.OFF and not put_back:
        return ForeignKeyReport(settings.foreign_keys).to_dict()
    target = open_target(settings.target_conn_id, engine=run.target_engine)
    try:

        def columns_of(table: TableName) -> set[str] | None:
            shape = target.shape(table)
            return None if shape is None else {name.casefold() for name, _, _ in shape[0]}

        def keys(table: TableName) -> tuple[str, ...]:
            planned = run.tables.get(table.name) if table.schema == settings.target_schema else None
            if planned is not None and planned.primary_key:
                return planned.primary_key
            shape = target.shape(table)
            return shape[1] if shape else ()

        wanted, skipped = foreign_keys.wanted_references(
            run.tables, mode=settings.foreign_keys, source_schema=run.source_schema,
            target_schema=settings.target_schema, columns_of=columns_of,
        )  # fmt: skip
        report = foreign_keys.settle_foreign_keys(
            target, mode=settings.foreign_keys, schema=settings.target_schema, released=put_back, wanted=wanted,
            keys=keys, skipped=skipped, on_progress=log.info,
        )  # fmt: skip
    finally:
        close_quietly(target)
    log.info("Foreign keys:\n%s", "\n".join(foreign_key_lines(report)))
    return report.to_dict()


def replicate_by_level(plan: Any) -> tuple[list[TaskGroup], list[Any]]:
    """Wiring for the DAGs that copy table by table: a TaskGroup per dependency level, for the reader.

    Each level holds a task per known table and a mapped task for the discovered extras
    (``list_other_tables``). The groups are not chained: every table task may start once the plan
    is ready (and the foreign keys released), the largest first (``LOAD_PRIORITY``; ``absolute``:
    a task's own weight, not summed over what follows it), as far as the pool and the executor
    allow. Returns the groups and every table task's output, for ``summarize``. Call inside a DAG.
    """
    groups, reports = [], []
    for level, name in enumerate(LEVEL_NAMES):
        with TaskGroup(group_id=name, tooltip=f"Level {level}: {', '.join(STATIC_TABLES[level])}") as group:
            for table in STATIC_TABLES[level]:
                copy = replicate.override(task_id=f"replicate_{table}", priority_weight=LOAD_PRIORITY[table],
                                          weight_rule="absolute")  # fmt: skip
                reports.append(copy(table_name=table, plan=plan))
            others = list_other_tables.override(priority_weight=LIST_OTHER_TABLES_PRIORITY,
                                                weight_rule="absolute")(plan, level)  # fmt: skip
            mapped = replicate.override(task_id="replicate_other_tables", priority_weight=OTHER_TABLES_PRIORITY,
                                        weight_rule="absolute")  # fmt: skip
            reports.append(mapped.partial(plan=plan).expand(table_name=others))
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
