"""The shared ``@task`` wrappers the DAG files wire together (with ``connections.py``, the only Airflow code).

Each wrapper turns Params into settings, opens connections, calls the Airflow-free core and
returns plain dicts for XCom. Failed checks raise ``AirflowFailException`` (not retried: the
data would differ again); everything else may be retried.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any
from urllib.parse import quote as quote_url

from airflow.sdk import Asset, AssetAlias, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from include.replication.airflow.connections import get_connection, open_source, open_target
from include.replication.levels import LEVEL_COUNT, STATIC_TABLES, assign_levels
from include.replication.load import replicate_table
from include.replication.models import SourceTable, TargetColumn
from include.replication.mssql.types import UnsupportedTypeError, map_table
from include.replication.postgres.source import quote
from include.replication.settings import ReplicationSettings, SettingsError
from include.replication.verify import TableVerification, VerificationFailed, verification_table

log = logging.getLogger(__name__)

REPLICATED_TABLES = AssetAlias("stackoverflow_replicated_tables")


def close_quietly(*connections: Any) -> None:
    """Close connections; closing a broken one must not hide the error that broke it."""
    for conn in connections:
        try:
            conn.close()
        except Exception:  # noqa: BLE001
            pass


def settings_of(plan: dict[str, Any]) -> ReplicationSettings:
    """The run's settings, as discover_tables validated them."""
    return ReplicationSettings.from_params(plan["settings"])


def table_of(plan: dict[str, Any], name: str) -> tuple[SourceTable, tuple[TargetColumn, ...]]:
    """A planned table and its mapped target columns."""
    table = SourceTable.from_dict(plan["tables"][name])
    return table, map_table(table, dialect=plan["dialect"])


@task(multiple_outputs=False)  # one plan dict, passed whole to every table task
def discover_tables() -> dict[str, Any]:
    """Read the source catalog, select tables, map every type and check the target: all before any data moves."""
    params = get_current_context()["params"]
    try:
        settings = ReplicationSettings.from_params(params)
    except SettingsError as exc:
        raise AirflowFailException(str(exc)) from exc
    dialect, source_conn = open_source(settings.source_conn_id, read_mode=settings.source_read_mode)
    try:
        schema = settings.source_schema or dialect.default_schema
        tables = select_tables(dialect.fetch_tables(source_conn, schema), settings, schema=schema)
    finally:
        close_quietly(source_conn)
    try:
        for table in tables:
            map_table(table, dialect=dialect.name)
    except UnsupportedTypeError as exc:
        raise AirflowFailException(str(exc)) from exc
    ensure_target_schema(settings)
    levels = assign_levels(tables)
    static = {name for level in STATIC_TABLES for name in level}
    log.info("Replicating %d tables from %s schema %s: %s", len(tables), dialect.name, schema, sorted(levels))
    return {
        "settings": settings.to_dict(),
        "dialect": dialect.name,
        "source_schema": schema,
        "tables": {t.name: t.to_dict() for t in tables},
        "levels": levels,
        "other_tables": [
            sorted(n for n, lv in levels.items() if lv == level and n not in static) for level in range(LEVEL_COUNT)
        ],
    }


@task(trigger_rule="none_failed")
def list_other_tables(plan: dict[str, Any], level: int) -> list[str]:
    """The discovered tables beyond the nine that belong to ``level`` (mapped over; may be empty)."""
    return plan["other_tables"][level]


def select_tables(tables: list[SourceTable], settings: ReplicationSettings, *, schema: str) -> list[SourceTable]:
    """Apply ``tables``/``exclude_tables``; a named table the source lacks is an error listing what exists."""
    by_name = {t.name: t for t in tables}
    missing = [n for n in (*settings.tables, *settings.exclude_tables) if n not in by_name]
    if missing:
        raise AirflowFailException(
            f"tables not found in source schema {schema!r}: {', '.join(missing)}. "
            f"Available: {', '.join(sorted(by_name)) or '(none)'}"
        )
    chosen = settings.tables or tuple(by_name)
    return [by_name[n] for n in chosen if n not in settings.exclude_tables]


def ensure_target_schema(settings: ReplicationSettings) -> None:
    """Create the target schema if it is missing (needs CREATE on the database; says so if not allowed)."""
    conn = open_target(settings.target_conn_id)
    try:
        exists = conn.run("SELECT 1 FROM pg_namespace WHERE nspname = :s", s=settings.target_schema)
        if not exists:
            try:
                conn.run(f"CREATE SCHEMA {quote(settings.target_schema)}")
            except Exception as exc:
                raise AirflowFailException(
                    f"target schema {settings.target_schema!r} does not exist and could not be created: {exc}"
                ) from exc
    finally:
        close_quietly(conn)


@task(multiple_outputs=False, trigger_rule="none_failed", outlets=[REPLICATED_TABLES])
def replicate(table_name: str, plan: dict[str, Any]) -> dict[str, Any]:
    """Copy one table into the target, verify it and swap it in; return its run-summary row."""
    if table_name not in plan["tables"]:
        raise AirflowSkipException(f"{table_name} is not selected or not in source schema {plan['source_schema']!r}")
    settings = settings_of(plan)
    table, columns = table_of(plan, table_name)
    dialect, source_conn = open_source(settings.source_conn_id, read_mode=settings.source_read_mode)
    target_conn = open_target(settings.target_conn_id)
    try:
        report = replicate_table(
            source=dialect,
            source_conn=source_conn,
            target_conn=target_conn,
            table=table,
            columns=columns,
            settings=settings.load_settings(),
            on_progress=log.info,
        )
    except VerificationFailed as exc:
        raise AirflowFailException(f"verification failed, target table left unchanged:\n{exc}") from exc
    finally:
        close_quietly(source_conn, target_conn)
    stats = report.stats
    log.info(
        "%s: %s rows, %.1f MB in %.1f s (%.0f rows/s), peak memory %.0f MB, spilled %.1f MB%s",
        table.qualified, f"{stats.rows:,}", stats.bytes / 2**20, stats.seconds, stats.rows_per_second,
        stats.peak_memory_mb, stats.spilled_bytes / 2**20,
        f", NUL stripped {stats.nul_stripped}" if stats.nul_stripped else "",
    )  # fmt: skip
    emit_asset(settings, table.name)
    return report.to_dict()


def emit_asset(settings: ReplicationSettings, table: str) -> None:
    """Record the target table as an Asset (through the alias: names are known only at run time)."""
    target = get_connection(settings.target_conn_id)
    path = "/".join(quote_url(part, safe="") for part in (target.schema or "", settings.target_schema, table))
    uri = f"postgres://{target.host}:{target.port or 5432}/{path}"
    get_current_context()["outlet_events"][REPLICATED_TABLES].add(
        Asset(uri=uri, name=f"{settings.target_schema}.{table}")
    )


@task(multiple_outputs=False, trigger_rule="none_failed")
def summarize(plan: dict[str, Any]) -> dict[str, Any]:
    """Log the run summary and the verification table; return them for XCom."""
    ti = get_current_context()["ti"]
    reports = [r for r in _all_reports(ti) if r]
    partitions = _partition_reports(ti)
    _add_partition_totals(reports, partitions)
    verifications = [TableVerification(**{**r["verification"], **_tuples(r["verification"])}) for r in reports]
    log.info("Verification:\n%s", verification_table(verifications))
    log.info("Run summary:\n%s", summary_table([r["stats"] for r in reports]))
    if partitions:
        log.info("Partitions:\n%s", partition_table(partitions))
    totals = {
        "tables": len(reports),
        "rows": sum(r["stats"]["rows"] for r in reports),
        "bytes": sum(r["stats"]["bytes"] for r in reports),
        "all_verified": all(v.ok for v in verifications),
    }
    return {"tables": reports, "partitions": partitions, "totals": totals}


def _tuples(verification: dict[str, Any]) -> dict[str, Any]:
    return {
        "differing_buckets": tuple(tuple(b) for b in verification["differing_buckets"]),
        "differing_rows": tuple(tuple(r) for r in verification["differing_rows"]),
    }


def _all_reports(ti: Any) -> list[dict[str, Any] | None]:
    """Table reports: the streaming DAG's replicate_* tasks, or the bulk DAG's finish_table."""
    reports: list[dict[str, Any] | None] = []
    for task_id in ti.task.dag.task_ids:
        group, _, name = task_id.rpartition(".")
        if not (name.startswith("replicate") or name == "finish_table"):
            continue
        if name == "replicate_other_tables" and not ti.xcom_pull(task_ids=f"{group}.list_other_tables"):
            continue  # nothing was mapped: there is no XCom to pull
        value = ti.xcom_pull(task_ids=task_id)  # every map index (map_indexes=None would mean "unmapped")
        reports.extend(value if isinstance(value, list) else [value])
    return reports


def _partition_reports(ti: Any) -> list[dict[str, Any]]:
    """The bulk DAG's per-partition rows (load_partition results), empty for the streaming DAG."""
    task_ids = [t for t in ti.task.dag.task_ids if t.endswith("load_partition")]
    found: list[dict[str, Any]] = []
    for task_id in task_ids:
        value = ti.xcom_pull(task_ids=task_id)  # every map index (map_indexes=None would mean "unmapped")
        found.extend(v for v in (value if isinstance(value, list) else [value]) if v)
    return found


def _add_partition_totals(reports: list[dict[str, Any]], partitions: list[dict[str, Any]]) -> None:
    """Bulk DAG: a table's bytes, seconds and peak memory include its partitions' extract and load tasks."""
    for report in reports:
        stats = report["stats"]
        table = stats["table"].split(".", 1)[-1]
        mine = [p for p in partitions if p["partition"]["table"] == table]
        if mine:
            stats["bytes"] = sum(p["bytes"] for p in mine)
            stats["seconds"] = round(stats["seconds"] + sum(p["extract_seconds"] + p["load_seconds"] for p in mine), 3)
            stats["peak_memory_mb"] = max(
                [stats["peak_memory_mb"], *(max(p["extract_peak_mb"], p["load_peak_mb"]) for p in mine)]
            )
            stripped = Counter(stats["nul_stripped"])
            for p in mine:
                stripped.update(p["nul_stripped"])
            stats["nul_stripped"] = dict(stripped)


def partition_table(partitions: list[dict[str, Any]]) -> str:
    """Per partition: rows, MB, extract and load seconds, peak memory of each task."""
    lines = [f"{'partition':<28}{'rows':>12}{'MB':>9}{'extract s':>11}{'load s':>9}{'peak MB':>9}"]
    for p in partitions:
        part = p["partition"]
        name = f"{part['table']}[{part['index'] + 1}/{part['count']}]"
        peak = max(p.get("extract_peak_mb", 0), p.get("load_peak_mb", 0))
        lines.append(
            f"{name:<28}{p['rows']:>12,}{p['bytes'] / 2**20:>9.1f}{p['extract_seconds']:>11.1f}"
            f"{p['load_seconds']:>9.1f}{peak:>9.0f}"
        )
    return "\n".join(lines)


def summary_table(stats: list[dict[str, Any]]) -> str:
    """Per table: rows, MB, seconds, rows/s, peak memory."""
    lines = [f"{'table':<28}{'rows':>12}{'MB':>10}{'seconds':>10}{'rows/s':>12}{'peak MB':>10}"]
    for s in stats:
        rate = s["rows"] / s["seconds"] if s["seconds"] else 0
        lines.append(
            f"{s['table']:<28}{s['rows']:>12,}{s['bytes'] / 2**20:>10.1f}{s['seconds']:>10.1f}{rate:>12,.0f}"
            f"{s['peak_memory_mb']:>10.0f}"
        )
    stripped = [f"{s['table']}.{column}: {n:,}" for s in stats for column, n in sorted(s["nul_stripped"].items())]
    if stripped:
        lines.append("NUL characters stripped (nul_policy=strip): " + ", ".join(stripped))
    return "\n".join(lines)
