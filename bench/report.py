"""Medians over repetitions, per table and in total, written as JSON and CSV and printed as a table."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path
from typing import Any

from bench.databases import SourceTable
from bench.results import MB, RunResult

CEILING = "ceiling"
TOTAL = "TOTAL"
CSV_FIELDS = (
    "contender", "table", "rows", "mb", "seconds", "rows_per_s", "mb_per_s", "ratio_to_ceiling",
    "peak_mb", "peak_concurrent_mb", "runs_ok", "runs", "seconds_each", "note",
)  # fmt: skip


def _median(values: list[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return round(statistics.median(found), 3) if found else None


def _rates(rows: int, size: int, seconds: float | None) -> dict[str, float | None]:
    if not seconds:
        return {"rows_per_s": None, "mb_per_s": None}
    return {"rows_per_s": round(rows / seconds), "mb_per_s": round(size / MB / seconds, 2)}


def _ratio(seconds: float | None, ceiling: float | None) -> float | None:
    return round(seconds / ceiling, 2) if seconds and ceiling else None


def medians(runs: list[RunResult], tables: list[SourceTable]) -> list[dict[str, Any]]:
    """One row per contender and table plus a TOTAL row per contender: medians of the successful runs."""
    contenders = list(dict.fromkeys(r.contender for r in runs))
    good = {c: [r for r in runs if r.contender == c and r.ok] for c in contenders}
    ceiling_total = _median([r.seconds for r in good.get(CEILING, [])])
    ceiling_table = {t.name: _median([_seconds(r, t.name) for r in good.get(CEILING, [])]) for t in tables}
    rows: list[dict[str, Any]] = []
    for c in contenders:
        mine = [r for r in runs if r.contender == c]
        notes = "; ".join(dict.fromkeys(r.note for r in mine if r.note))
        total = _median([r.seconds for r in good[c]])
        all_rows, all_bytes = sum(t.rows for t in tables), sum(t.bytes for t in tables)
        rows.append(
            {
                "contender": c, "table": TOTAL, "rows": all_rows, "mb": round(all_bytes / MB, 1), "seconds": total,
                **_rates(all_rows, all_bytes, total), "ratio_to_ceiling": _ratio(total, ceiling_total),
                "peak_mb": _median([r.peak_mb for r in good[c]]),
                "peak_concurrent_mb": _median([r.peak_concurrent_mb for r in good[c]]),
                "runs_ok": len(good[c]), "runs": len(mine), "seconds_each": [r.seconds for r in mine], "note": notes,
            }
        )  # fmt: skip
        for t in tables:
            seconds = _median([_seconds(r, t.name) for r in good[c]])
            rows.append(
                {
                    "contender": c, "table": t.name, "rows": t.rows, "mb": round(t.bytes / MB, 1), "seconds": seconds,
                    **_rates(t.rows, t.bytes, seconds), "ratio_to_ceiling": _ratio(seconds, ceiling_table[t.name]),
                    "peak_mb": _median([_table_peak(r, t.name) for r in good[c]]), "peak_concurrent_mb": None,
                    "runs_ok": len(good[c]), "runs": len(mine), "seconds_each": [_seconds(r, t.name) for r in mine],
                    "note": "; ".join(dict.fromkeys(x.note for r in mine for x in r.tables if x.table == t.name and x.note)),
                }
            )  # fmt: skip
    return rows


def _seconds(run: RunResult, table: str) -> float | None:
    return next((t.seconds for t in run.tables if t.table == table), None)


def _table_peak(run: RunResult, table: str) -> float | None:
    """A table's own process where there is one: GenericTransfer's process, the streaming DAG's table task."""
    if table in run.extras.get("peak_mb_by_table", {}):
        return run.extras["peak_mb_by_table"][table]
    tasks = [p.peak_mb for p in run.processes if p.role == "task" and p.task.endswith(f"replicate_{table}")]
    return max(tasks) if tasks else None


def write(path_stem: Path, document: dict[str, Any], rows: list[dict[str, Any]]) -> list[Path]:
    """``<stem>.json`` (everything: machine, command, every run, medians) and ``<stem>.csv`` (the medians)."""
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    # not with_suffix: the stem "results-scale-0.1" already has a dot
    json_path, csv_path = (path_stem.parent / f"{path_stem.name}.{ext}" for ext in ("json", "csv"))
    json_path.write_text(json.dumps({**document, "medians": rows}, indent=1, default=str) + "\n")
    with csv_path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {**row, "seconds_each": " ".join("-" if s is None else f"{s:g}" for s in row["seconds_each"])}
            )
    return [json_path, csv_path]


def text_table(rows: list[dict[str, Any]]) -> str:
    """The TOTAL rows as a fixed-width table for the console."""

    def show(value: Any, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    lines = [
        f"{'contender':<18}{'seconds':>9}{'rows/s':>11}{'MB/s':>8}{'peak MB':>9}{'sum MB':>8}{'x ceiling':>10}  runs"
    ]
    for r in (r for r in rows if r["table"] == TOTAL):
        lines.append(
            f"{r['contender']:<18}{show(r['seconds'], '9.1f')}{show(r['rows_per_s'], '11,')}{show(r['mb_per_s'], '8.1f')}"
            f"{show(r['peak_mb'], '9.0f')}{show(r['peak_concurrent_mb'], '8.0f')}{show(r['ratio_to_ceiling'], '10.2f')}"
            f"  {r['runs_ok']}/{r['runs']}" + (f"  {r['note']}" if r["note"] else "")
        )
    return "\n".join(lines)
