"""The three plots (matplotlib, PNG): total time per contender, per-table time, peak memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report import TOTAL

COLOURS = {
    "ceiling": "#4d4d4d",
    "ceiling_parallel": "#9a9a9a",
    "pgloader": "#1f77b4",
    "generic_transfer": "#d62728",
    "streaming_dag": "#2ca02c",
    "bulk_dag": "#ff7f0e",
}


def _colour(contender: str) -> str:
    return COLOURS.get(contender, "#9467bd")


def plot(rows: list[dict[str, Any]], *, out_dir: Path, prefix: str, title: str) -> list[Path]:
    """Write ``<prefix>-total.png``, ``<prefix>-tables.png`` and ``<prefix>-memory.png``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    totals = [r for r in rows if r["table"] == TOTAL]
    names = [r["contender"] for r in totals]
    paths = [out_dir / f"{prefix}-{kind}.png" for kind in ("total", "tables", "memory")]

    fig, ax = plt.subplots(figsize=(9, 4.5))
    seconds = [r["seconds"] or 0 for r in totals]
    bars = ax.barh(names, seconds, color=[_colour(n) for n in names])
    for bar, r in zip(bars, totals, strict=True):
        label = (
            "did not finish"
            if r["seconds"] is None
            else f"{r['seconds']:.1f} s  ("
            + (f"{r['ratio_to_ceiling']:.2f}× ceiling, " if r["ratio_to_ceiling"] is not None else "")
            + f"{r['mb_per_s']:.0f} MB/s)"
        )
        ax.annotate(
            label,
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.invert_yaxis()
    ax.set_xlabel("wall seconds, median (lower is better)")
    ax.set_xlim(0, max(seconds, default=1) * 1.6)
    ax.set_title(f"{title}: whole database")
    fig.tight_layout()
    fig.savefig(paths[0], dpi=120)
    plt.close(fig)

    tables = list(dict.fromkeys(r["table"] for r in rows if r["table"] != TOTAL))
    fig, ax = plt.subplots(figsize=(11, 5))
    width = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        values = {r["table"]: r["seconds"] for r in rows if r["contender"] == name and r["table"] != TOTAL}
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(tables))]
        ax.bar(xs, [values.get(t) or 0 for t in tables], width, label=name, color=_colour(name))
    ax.set_xticks(range(len(tables)), [f"{t}\n{_rows(rows, t)}" for t in tables], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("seconds, median (log scale)")
    ax.set_title(f"{title}: per table (largest first; DAG figures include primary key, verification and swap)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(paths[1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 4.5))
    ys = range(len(names))
    ax.barh(
        [y - 0.2 for y in ys],
        [r["peak_mb"] or 0 for r in totals],
        0.4,
        label="largest single process",
        color=[_colour(n) for n in names],
    )
    ax.barh(
        [y + 0.2 for y in ys],
        [r["peak_concurrent_mb"] or 0 for r in totals],
        0.4,
        label="sum of its processes' RSS at one moment (forked pages counted in each)",
        color=[_colour(n) for n in names],
        alpha=0.45,
    )
    for y, r in zip(ys, totals, strict=True):
        ax.annotate(
            f"{r['peak_mb'] or 0:.0f} MB",
            (r["peak_mb"] or 0, y - 0.2),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(list(ys), names)
    ax.invert_yaxis()
    ax.set_xlabel("peak resident memory, MB, median (DAGs: task processes only)")
    ax.set_title(f"{title}: peak memory")
    ax.set_xlim(
        0, max([r["peak_mb"] or 0 for r in totals] + [r["peak_concurrent_mb"] or 0 for r in totals] + [1]) * 1.15
    )
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(paths[2], dpi=120)
    plt.close(fig)
    return paths


def _rows(rows: list[dict[str, Any]], table: str) -> str:
    found = next(r for r in rows if r["table"] == table)
    count = found["rows"]
    short = f"{count / 1e6:.1f}M" if count >= 1e6 else f"{count / 1e3:.0f}k" if count >= 1e4 else str(count)
    return f"{short} rows\n{found['mb']:.0f} MB"
