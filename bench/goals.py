"""Issue [I]'s goals, checked against the benchmark results files: met or not, with the figures.

    .venv/bin/python -m bench.goals --scales 0.1 1

Reads ``docs/bench/results-scale-<S>.json`` (written by ``make bench``) and writes
``docs/bench/goals.md``: per scale, each DAG's total time against the ceiling (goal ≤ 1.5× with
``verify=checksums``), the bulk DAG against the streaming DAG (goal ≤ 1×), both against pgloader
(goal ≥ 3× faster), and every task process's peak memory against its buffer plus 150 MB, the
largest task per DAG side by side at each scale. With ``--counts-results``, also the DAGs run
with ``verify=counts`` against the ceiling of that same run (goal ≤ 1.2×).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

OUT_DIR = Path(__file__).resolve().parent.parent / "docs" / "bench"
DAGS = ("streaming_dag", "bulk_dag")
CEILING_RATIO_GOAL = 1.5
COUNTS_CEILING_RATIO_GOAL = 1.2  # verify=counts
BULK_OVER_STREAMING_GOAL = 1.0
PGLOADER_SPEEDUP_GOAL = 3.0
MEMORY_HEADROOM_MB = 150
DEFAULT_BUFFER_MB = 256


def _totals(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["contender"]: row for row in document["medians"] if row["table"] == "TOTAL"}


def _task_peaks(document: dict[str, Any], contender: str) -> dict[str, float]:
    """Per task id (mapped ones folded together): the largest peak over every successful run."""
    peaks: dict[str, float] = {}
    for run in document["runs"]:
        if run["contender"] != contender or not run.get("ok", True):
            continue
        for process in run["processes"]:
            if process["role"] == "task" and process.get("task"):
                task = process["task"].split("[")[0]
                peaks[task] = max(peaks.get(task, 0.0), process["peak_mb"])
    return peaks


def _cores(document: dict[str, Any]) -> int:
    return document.get("machine", {}).get("cores") or 1


def _machine_cpu_cells(document: dict[str, Any], contender: str) -> str:
    """``machine CPU s | ÷ cores``: medians over the successful runs (``bench.run.counting_cpu``), or dashes."""
    seconds = [run["extras"]["machine_cpu_seconds"] for run in document.get("runs", [])
               if run["contender"] == contender and run.get("ok", True) and "machine_cpu_seconds" in run.get("extras", {})]  # fmt: skip
    if not seconds:
        return "– | –"
    cpu = statistics.median(seconds)
    return f"{cpu:.1f} | {cpu / _cores(document):.1f}"


def _mark(met: bool) -> str:
    return "met" if met else "**not met**"


def tuned_pgloader(folder: Path | None, scale: str, ceiling: float | None = None) -> tuple[float | None, str, str]:
    """The median pgloader time of a separate run with WITH options (``--pgloader-with``), and those options.

    With ``ceiling`` (this run's), the time is scaled by the ratio of the two runs' ceilings: the
    machine is shared, and a separate run meets other load.
    """
    path = folder / f"results-scale-{float(scale):g}.json" if folder else None
    if path is None or not path.exists():
        return None, "", ""
    document = json.loads(path.read_text())
    totals = _totals(document)
    seconds, options = totals.get("pgloader", {}).get("seconds"), document.get("pgloader_with", "")
    own_ceiling = totals.get("ceiling", {}).get("seconds")
    if seconds is None or ceiling is None or not own_ceiling:
        return seconds, options, ""
    scaled = f"; {seconds:.1f} s in a separate run whose ceiling took {own_ceiling:.1f} s, scaled to this run's ceiling"
    return seconds * ceiling / own_ceiling, options, scaled


def counts_section(folder: Path | None, scale: str) -> list[str]:
    """The DAGs with ``verify=counts`` against the ceiling of their own run (``bench.run --verify counts``)."""
    path = folder / f"results-scale-{float(scale):g}.json" if folder else None
    if path is None or not path.exists():
        return []
    document = json.loads(path.read_text())
    if document.get("dag_conf", {}).get("verify") != "counts":
        raise SystemExit(f"{path}: the DAGs ran with verify={document.get('dag_conf', {}).get('verify')}, not counts")
    totals = _totals(document)
    ceiling = totals["ceiling"]["seconds"]
    cores = _cores(document)
    lines = [
        "",
        f"With `verify=counts` (`{path.parent.name}/`, its own run; ceiling {ceiling:.1f} s):",
        "",
        f"| DAG | total s | × ceiling (goal ≤ {COUNTS_CEILING_RATIO_GOAL:g}) | machine CPU s | ÷ {cores} cores | runs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for dag in DAGS:
        if totals.get(dag, {}).get("seconds") is None:
            continue
        ratio = totals[dag]["seconds"] / ceiling
        busy = _machine_cpu_cells(document, dag)
        lines.append(f"| {dag} | {totals[dag]['seconds']:.1f} | {ratio:.2f} ({_mark(ratio <= COUNTS_CEILING_RATIO_GOAL)}) | "
                     f"{busy} | {totals[dag]['runs_ok']}/{totals[dag]['runs']} |")  # fmt: skip
    return lines


def scale_section(
    document: dict[str, Any], tuned: tuple[float | None, str, str] = (None, "", "")
) -> tuple[list[str], dict[str, tuple[str, float]]]:
    totals = _totals(document)
    ceiling = totals["ceiling"]["seconds"]
    pgloader = totals.get("pgloader", {}).get("seconds")
    pgloader_label = "pgloader"
    if pgloader is None and tuned[0] is not None:
        pgloader, pgloader_label = (
            tuned[0],
            f"pgloader with `{tuned[1]}` (its defaults failed: heap exhausted{tuned[2]})",
        )
    buffer_mb = document.get("dag_conf", {}).get("buffer_mb", DEFAULT_BUFFER_MB)
    limit = buffer_mb + MEMORY_HEADROOM_MB
    lines = [
        f"### Scale {document['scale']:g}: {totals['ceiling']['rows']:,} rows, {totals['ceiling']['mb']:,} MB of COPY text",
        "",
        f"Ceiling (sequential psql COPY pipes) {ceiling:.1f} s; {pgloader_label} {pgloader:.1f} s."
        if pgloader
        else f"Ceiling {ceiling:.1f} s; pgloader not measured.",
        "",
        f"| DAG | total s | × ceiling (goal ≤ {CEILING_RATIO_GOAL:g}) | pgloader ÷ DAG (goal ≥ 3) | largest task peak MB (goal < "
        f"{limit}) | runs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    largest: dict[str, tuple[str, float]] = {}
    for dag in DAGS:
        if dag not in totals or totals[dag]["seconds"] is None:
            continue
        seconds = totals[dag]["seconds"]
        peaks = _task_peaks(document, dag)
        task, peak = max(peaks.items(), key=lambda item: item[1]) if peaks else ("", 0.0)
        largest[dag] = (task, peak)
        speedup = pgloader / seconds if pgloader else None
        lines.append(
            f"| {dag} | {seconds:.1f} | {seconds / ceiling:.2f} ({_mark(seconds / ceiling <= CEILING_RATIO_GOAL)}) | "
            + (f"{speedup:.2f} ({_mark(speedup >= PGLOADER_SPEEDUP_GOAL)})" if speedup else "–")
            + f" | {peak:.0f} `{task}` ({_mark(peak < limit)}) | {totals[dag]['runs_ok']}/{totals[dag]['runs']} |"
        )
    streaming, bulk = (totals.get(dag, {}).get("seconds") for dag in DAGS)
    if streaming and bulk:
        ratio = bulk / streaming
        lines += ["", f"bulk_dag ÷ streaming_dag: {ratio:.2f} (goal ≤ {BULK_OVER_STREAMING_GOAL:g}: "
                  f"{_mark(ratio <= BULK_OVER_STREAMING_GOAL)})"]  # fmt: skip
    others = [c for c in totals if c not in DAGS]
    cores = _cores(document)
    lines += [
        "",
        "Every contender (medians):",
        "",
        f"| contender | total s | × ceiling | machine CPU s | ÷ {cores} cores | runs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in others + [d for d in DAGS if d in totals]:
        row = totals[name]
        seconds = "–" if row["seconds"] is None else f"{row['seconds']:.1f}"
        ratio = "–" if row["ratio_to_ceiling"] is None else f"{row['ratio_to_ceiling']:.2f}"
        busy = _machine_cpu_cells(document, name)
        lines.append(f"| {name} | {seconds} | {ratio} | {busy} | {row['runs_ok']}/{row['runs']} |")
    lines += [
        "",
        f"Machine CPU s: what every process on the machine used during the run (`/proc/stat`, Airflow's own included); "
        f"÷ {cores} cores, the least wall time that work could take here.",
    ]
    return lines, largest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", nargs="+", default=["0.1", "1"])
    parser.add_argument(
        "--pgloader-results",
        type=Path,
        help="folder of a pgloader-only run with --pgloader-with, used where the main run's pgloader failed",
    )
    parser.add_argument("--counts-results", type=Path, help="folder of a run with --verify counts (ceiling and DAGs)")
    args = parser.parse_args(argv)
    out = [
        "# Issue [I] goals against the measurements",
        "",
        "Written by `.venv/bin/python -m bench.goals " + " ".join(argv if argv is not None else sys.argv[1:]) + "` from "
        + ", ".join(f"`results-scale-{s}.json`" for s in args.scales) + ". Medians of the runs in each file.",
        "",
    ]  # fmt: skip
    memory: dict[str, dict[str, tuple[str, float]]] = {}
    for scale in args.scales:
        document = json.loads((OUT_DIR / f"results-scale-{float(scale):g}.json").read_text())
        ceiling = _totals(document)["ceiling"]["seconds"]
        lines, largest = scale_section(document, tuned_pgloader(args.pgloader_results, scale, ceiling))
        out += lines + counts_section(args.counts_results, scale) + [""]
        memory[scale] = largest
    out += [
        "### Largest task per DAG, side by side",
        "",
        "| DAG | " + " | ".join(f"scale {s}" for s in args.scales) + " |",
        "|---|" + "---:|" * len(args.scales),
    ]
    for dag in DAGS:
        cells = [f"{memory[s][dag][1]:.0f} MB `{memory[s][dag][0]}`" if dag in memory[s] else "–" for s in args.scales]
        out.append(f"| {dag} | " + " | ".join(cells) + " |")
    out.append("")
    out.append(f"Median task peak per DAG: {_median_peaks(args.scales)}")
    path = OUT_DIR / "goals.md"
    path.write_text("\n".join(out) + "\n")
    print("\n".join(out))
    print(f"written: {path}")
    return 0


def _median_peaks(scales: list[str]) -> str:
    parts = []
    for scale in scales:
        document = json.loads((OUT_DIR / f"results-scale-{float(scale):g}.json").read_text())
        for dag in DAGS:
            peaks = list(_task_peaks(document, dag).values())
            if peaks:
                parts.append(f"{dag} at {scale}: {statistics.median(peaks):.0f} MB")
    return "; ".join(parts) + "."


if __name__ == "__main__":
    sys.exit(main())
