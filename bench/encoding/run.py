"""Benchmark COPY encoders on StackOverflow-shaped pymssql tuples (issue [D] item 3).

    .venv/bin/python -m bench.encoding.run [--rows 50000] [--repeat 5] [--no-server] [--baseline REV]

1. Formatting only, no server: our ``RowEncoder`` (and, for before/after, the one at git revision
   ``--baseline``), the csv module, psycopg 3's C text formatter; batches of 1,000 rows as
   ``mssql.source`` fetches them; output bytes as the COPY stream would carry them.
2. End to end (unless ``--no-server``): each encoder's bytes through pg8000 and through psycopg, and
   psycopg's own ``Copy.write_row`` (text and binary), into the throwaway PostgreSQL ``encbench``,
   which is started for the run and stopped at the end. See ``end_to_end``.

Times are ``time.perf_counter`` over ``--repeat`` runs; rows/s and MB/s come from the best run
(the median is kept in the JSON). The "mix" weighs the four tables by their real StackOverflow2010
row counts: the time to encode (or load) all of them, as rows per second.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.encoding import end_to_end
from bench.encoding.encoders import ENCODERS
from bench.encoding.rows import SO_TABLES, Dataset, build, edge_cases
from include.stackoverflow.schema import ROW_COUNTS

PROJECT_DIR = Path(__file__).resolve().parents[2]
RESULTS = PROJECT_DIR / "docs" / "bench" / "encoder-results.json"
BASELINE_REV = "583f49f"  # main before the encoder's fast path
SERVER_NAME = "encbench"
MB = 1_000_000
FORMATTED_AS = {
    "pre-encoded": "ours",
    "psycopg": "psycopg formatter",
    "write_row": "psycopg formatter",
    "binary": "psycopg formatter",
}


def load_baseline(rev: str) -> type | None:
    """``RowEncoder`` as it was at git revision ``rev`` (None when git cannot show it)."""
    modules = {}
    for name in ("copy_format", "encoding"):
        try:
            source = subprocess.run(
                ["git", "show", f"{rev}:include/replication/{name}.py"],
                cwd=PROJECT_DIR, check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
        except (OSError, subprocess.CalledProcessError):
            return None
        module = types.ModuleType(f"_baseline_{name}")
        sys.modules[module.__name__] = module  # dataclasses and the like look modules up by name
        source = source.replace("from include.replication.copy_format import", "from _baseline_copy_format import")
        exec(compile(source, f"{rev}:{name}.py", "exec"), module.__dict__)  # our own file from git
        modules[name] = module
    return modules["encoding"].RowEncoder


def interleaved(runs: dict[str, Callable[..., float]], repeat: int) -> dict[str, list[float]]:
    """Seconds of ``repeat`` calls of each run, taken in turns after a warm-up turn (``check=True``).

    Taking turns spreads whatever else the machine does over all candidates alike; the best of
    the turns is then the least disturbed.
    """
    times: dict[str, list[float]] = {name: [] for name in runs}
    for turn in range(repeat + 1):
        for name, run in runs.items():
            elapsed = run(check=turn == 0)
            if turn:
                times[name].append(elapsed)
    return times


def summary(times: list[float], rows: int, size: int) -> dict[str, float]:
    best = min(times)
    return {
        "best_s": round(best, 4),
        "median_s": round(statistics.median(times), 4),
        "rows_per_s": round(rows / best),
        "mb_per_s": round(size / best / MB, 1),
        "bytes": size,
    }


def format_run(data: Dataset, factory: type, out: dict[str, list[float]], name: str) -> Callable[..., float]:
    """One pass of ``factory``'s encoder over ``data`` in fetch-sized batches.

    Returns wall seconds; appends the pass's CPU seconds to ``out[name]`` and its output size to
    ``out[name + " bytes"]``. CPU time is what the encoder costs on a machine others are using too.
    """

    def run(*, check: bool) -> float:  # nothing to check without a server
        started, cpu = time.perf_counter(), time.process_time()
        encoder = factory(data.table, data.column_names, key=["Id"], nul_policy="strip")
        size = sum(len(encoder.encode(batch)) for batch in end_to_end.batches(data.rows))
        elapsed = time.perf_counter() - started
        out.setdefault(name, []).append(time.process_time() - cpu)
        out[name + " bytes"] = [size]
        return elapsed

    return run


def mix(results: dict[str, dict[str, dict[str, float]]], variant: str) -> int | None:
    """Rows/s over the four tables weighted by their real row counts (None if one is missing)."""
    try:
        seconds = sum(ROW_COUNTS[t] / results[t][variant]["rows_per_s"] for t in SO_TABLES)
    except KeyError:
        return None
    return round(sum(ROW_COUNTS[t] for t in SO_TABLES) / seconds)


def machine(server: str | None) -> dict[str, Any]:
    import psycopg

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "psycopg": f"{metadata.version('psycopg')} ({psycopg.pq.__impl__})",
        "pg8000": metadata.version("pg8000"),
        "postgresql": server,
        "platform": platform.platform(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],  # others' work on the same machine
    }


def markdown(title: str, results: dict[str, dict[str, dict[str, float]]], variants: list[str]) -> str:
    tables = [t for t in (*SO_TABLES, "Mixed") if t in results]
    lines = [f"### {title}", "", "| rows/s (MB/s) | " + " | ".join(tables) + " | mix |",
             "|---|" + "---:|" * (len(tables) + 1)]  # fmt: skip
    for v in variants:
        cells = [f"{results[t][v]['rows_per_s']:,} ({results[t][v]['mb_per_s']})" if v in results[t] else "-"
                 for t in tables]  # fmt: skip
        m = mix(results, v)
        lines.append(f"| {v} | " + " | ".join(cells) + (f" | {m:,} |" if m else " | - |"))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50_000, help="rows per table")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline", default=BASELINE_REV, help="git revision for 'ours (before)'; '' to skip")
    parser.add_argument("--no-server", action="store_true", help="formatting only")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    datasets = {t: build(t, args.rows) for t in (*SO_TABLES, "Mixed")}
    factories: dict[str, type] = {"ours": ENCODERS["ours"]}
    baseline = load_baseline(args.baseline) if args.baseline else None
    variants = dict(end_to_end.VARIANTS)
    if baseline:
        factories["ours (before)"] = baseline
        ENCODERS["ours (before)"] = baseline  # so the end-to-end loads can make one by name
        variants["pg8000 + ours (before)"] = (end_to_end.pg8000_load, "ours (before)")
    factories.update({"csv": ENCODERS["csv"], "psycopg formatter": ENCODERS["psycopg"]})

    formatting: dict[str, dict[str, dict[str, float]]] = {}
    sizes: dict[str, dict[str, int]] = {}
    for table, data in datasets.items():
        extra: dict[str, list[float]] = {}
        runs = {name: format_run(data, factory, extra, name) for name, factory in factories.items()}
        times = interleaved(runs, args.repeat)
        sizes[table] = {name: int(extra[name + " bytes"][0]) for name in factories}
        formatting[table] = {name: summary(t, len(data.rows), sizes[table][name]) for name, t in times.items()}
        for name in factories:
            formatting[table][name]["cpu_rows_per_s"] = round(len(data.rows) / min(extra[name][1:]))
        for name, result in formatting[table].items():
            print(f"format  {table:9} {name:26} {result['rows_per_s']:>10,} rows/s", flush=True)

    loads: dict[str, dict[str, dict[str, float]]] = {}
    version = None
    latency: dict[str, float] = {}
    if not args.no_server:
        from localdev import postgres

        server = postgres.start(SERVER_NAME)
        try:
            url = postgres.create_database(server, "enc")
            version = end_to_end.server_version(url)
            latency = end_to_end.copy_latency_ms(url)
            print(f"one-row COPY, median ms: {latency}", flush=True)
            for load, encoder in variants.values():  # every candidate is correct first
                load(url, edge_cases(), encoder, check=True)
            for table, data in datasets.items():
                # the warm-up turn also reads the table back and compares it with the input
                runs = {label: partial(load, url, data, encoder) for label, (load, encoder) in variants.items()}
                times = interleaved(runs, args.repeat)
                loads[table] = {}
                for label, (_, encoder) in variants.items():
                    size = sizes[table][FORMATTED_AS.get(encoder, encoder)]  # binary: its text size
                    loads[table][label] = summary(times[label], len(data.rows), size)
                    print(f"load    {table:9} {label:26} {loads[table][label]['rows_per_s']:>10,} rows/s", flush=True)
        finally:
            postgres.stop(SERVER_NAME)

    command = ".venv/bin/python -m bench.encoding.run " + " ".join(sys.argv[1:])
    report = {
        "command": command.strip(),
        "machine": machine(version),
        "rows_per_table": args.rows,
        "repeat": args.repeat,
        "batch_rows": end_to_end.BATCH_ROWS,
        "baseline_rev": args.baseline if baseline else None,
        "format_only": formatting,
        "format_only_mix_rows_per_s": {v: mix(formatting, v) for v in factories},
        "one_row_copy_ms": latency,
        "end_to_end": loads,
        "end_to_end_mix_rows_per_s": {v: mix(loads, v) for v in variants} if loads else {},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print()
    print(markdown("Formatting only (no server)", formatting, list(factories)))
    if loads:
        print()
        print(markdown("End to end: encode + COPY FROM STDIN into PostgreSQL", loads, list(variants)))
    print(f"\nresults: {args.out}")


if __name__ == "__main__":
    main()
