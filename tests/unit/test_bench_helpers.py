"""The benchmark's pure helpers: pgloader summary parsing, process roles, medians, the memory sampler."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.contenders import PGLOADER_TABLE, _pgloader_seconds
from bench.dags import classify
from bench.databases import SourceTable, libpq_target
from bench.generic_transfer import AUTO_PAGE_ROWS, page_size_for
from bench.goals import counts_section, scale_section
from bench.machine import busy_cpu_seconds
from bench.memory import TreeSampler
from bench.report import TOTAL, medians
from bench.results import RunResult, TableTiming


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0.272s", 0.272), ("1m12.5s", 72.5), ("1h2m3.0s", 3723.0), ("12.3", None), ("", None)],
    ids=["seconds", "minutes", "hours", "no-unit", "empty"],
)
def test_pgloader_durations(text: str, seconds: float | None) -> None:
    assert _pgloader_seconds(text) == seconds


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            '       "public"."Posts"          0     372920   431.9 MB         10.538s',
            ("Posts", "0", "372920", "10.538s"),
        ),
        ('   "public"."LinkTypes"          0          2     0.0 kB          0.048s', ("LinkTypes", "0", "2", "0.048s")),
        ('       "public"."Votes"          0    1014340               1m3.004s', ("Votes", "0", "1014340", "1m3.004s")),
        ("        fetch meta data          0         18                     0.100s", None),
        ("      Total import time          ✓    1931093   570 MB          10.5s", None),
    ],
    ids=["megabytes", "kilobytes", "no-bytes", "not-a-table", "total"],
)
def test_pgloader_summary_lines(line: str, expected: tuple[str, ...] | None) -> None:
    found = PGLOADER_TABLE.match(line)
    assert (found.groups() if found else None) == expected


@pytest.mark.parametrize(
    ("title", "role"),
    [
        ("airflow worker -- 01a1fd70-c3c4-7f38-bec2-ae83261787db", "task"),
        ("airflow worker -- LocalExecutor: <idle>", "executor"),
        ("/work/.venv/bin/python -m airflow scheduler", "scheduler"),
        ("airflow api_server -- host:127.0.0.1 port:8080", "api-server"),
        ("/work/.venv/bin/python -m airflow dag-processor", "dag-processor"),
        ("airflow serve-logs", None),
    ],
    ids=["task", "executor", "scheduler", "api-server", "dag-processor", "inherits"],
)
def test_airflow_process_roles(title: str, role: str | None) -> None:
    assert classify(title) == role


TABLES = [SourceTable("Posts", 1000, 10 * 2**20), SourceTable("Votes", 4000, 2**20)]


def _run(contender: str, total: float | None, posts: float | None, *, ok: bool = True) -> RunResult:
    timings = [TableTiming("Posts", 1000, 10 * 2**20, posts), TableTiming("Votes", 4000, 2**20, 1.0)]
    return RunResult(contender, 1, total, timings, ok=ok)


def test_medians_rates_and_ratio_to_the_ceiling() -> None:
    runs = [_run("ceiling", 2.0, 1.5), _run("ceiling", 4.0, 2.5), _run("ceiling", 3.0, 2.0)]
    runs += [_run("pgloader", 6.0, 4.0), _run("pgloader", 99.0, 99.0, ok=False)]
    rows = {(r["contender"], r["table"]): r for r in medians(runs, TABLES)}
    ceiling, pgloader = rows[("ceiling", TOTAL)], rows[("pgloader", TOTAL)]
    assert (ceiling["seconds"], ceiling["rows_per_s"], ceiling["mb_per_s"]) == (3.0, 1667, 3.67)
    assert (pgloader["seconds"], pgloader["ratio_to_ceiling"], pgloader["runs_ok"], pgloader["runs"]) == (
        6.0,
        2.0,
        1,
        2,
    )
    assert rows[("pgloader", "Posts")]["ratio_to_ceiling"] == 2.0  # 4.0 against the ceiling's Posts median 2.0


def test_unfinished_runs_have_no_median() -> None:
    rows = {(r["contender"], r["table"]): r for r in medians([_run("generic_transfer", None, None, ok=False)], TABLES)}
    assert rows[("generic_transfer", TOTAL)]["seconds"] is None
    assert rows[("generic_transfer", TOTAL)]["rows_per_s"] is None


def test_libpq_target_moves_the_password_out_of_the_url() -> None:
    url, env = libpq_target("postgresql://postgres:p%40ss@127.0.0.1:5432/db")
    assert url == "postgresql://postgres@127.0.0.1:5432/db"
    assert env["PGPASSWORD"] == "p@ss"


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="the sampler reads Linux /proc")
def test_sampler_sees_a_short_lived_child_s_peak() -> None:
    """A child that touches 64 MB and exits: its peak is recorded from VmHWM."""
    code = "import time; b = bytearray(64 * 2**20); time.sleep(0.3)"
    with TreeSampler(lambda title: "process", interval=0.05) as sampler:
        subprocess.run([sys.executable, "-c", code], check=True)
    peaks = [p for p in sampler.peaks() if "bytearray" in p.title]
    assert peaks and peaks[0].peak_mb >= 64
    assert sampler.peak_sum_mb["process"] >= 64


@pytest.mark.parametrize(
    ("table", "asked", "expected"),
    [
        (SourceTable("Posts", 372_920, 432 * 2**20), None, None),  # scale 0.1: ~2.3 GB fits a quarter of 24 GiB
        (SourceTable("Posts", 3_729_195, 4_331 * 2**20), None, AUTO_PAGE_ROWS),  # scale 1: ~23 GB would not
        (SourceTable("Votes", 10_143_364, 428 * 2**20), None, None),  # scale 1: ~6.2 GB, just fits
        (SourceTable("Votes", 20_000_000, 850 * 2**20), None, AUTO_PAGE_ROWS),  # twice that would not
        (SourceTable("Users", 29_940, 7 * 2**20), 5_000, 5_000),  # asked for: always honoured
    ],
    ids=["fits", "too-big-text", "many-rows-fit", "too-many-rows", "asked"],
)
def test_generic_transfer_pages_only_what_would_not_fit(
    table: SourceTable, asked: int | None, expected: int | None
) -> None:
    assert page_size_for(table, asked, ram_bytes=24 * 2**30) == expected


def test_goals_read_a_counts_run_against_its_own_ceiling(tmp_path: Path) -> None:
    """``bench.goals --counts-results``: the DAGs with verify=counts, each against the ceiling of the same run."""
    runs = [_run("ceiling", 40.0, 30.0), _run("streaming_dag", 47.0, 35.0), _run("bulk_dag", 60.0, 40.0)]
    document = {"dag_conf": {"verify": "counts"}, "medians": medians(runs, TABLES)}
    (tmp_path / "results-scale-1.json").write_text(json.dumps(document))
    lines = counts_section(tmp_path, "1")
    assert "| streaming_dag | 47.0 | 1.18 (met) | – | – | 1/1 |" in lines  # no machine CPU recorded
    assert "| bulk_dag | 60.0 | 1.50 (**not met**) | – | – | 1/1 |" in lines
    assert counts_section(tmp_path / "absent", "1") == []
    document["dag_conf"]["verify"] = "checksums"
    (tmp_path / "results-scale-1.json").write_text(json.dumps(document))
    with pytest.raises(SystemExit, match="verify=checksums, not counts"):
        counts_section(tmp_path, "1")


def test_goals_show_the_machine_cpu_and_the_least_wall_time_it_allows() -> None:
    """Each contender's median machine CPU seconds, and that divided by the cores: no schedule on them beats it."""
    runs = [_run("ceiling", 40.0, 30.0), _run("streaming_dag", 70.0, 50.0), _run("streaming_dag", 74.0, 52.0)]
    for run, cpu in zip(runs, (52.0, 130.0, 126.0), strict=True):
        run.extras["machine_cpu_seconds"] = cpu
    document = {"scale": 1, "machine": {"cores": 2}, "medians": medians(runs, TABLES),
                "runs": [{**r.to_dict(), "processes": []} for r in runs]}  # fmt: skip
    lines, _ = scale_section(document)
    assert "| ceiling | 40.0 | 1.00 | 52.0 | 26.0 | 1/1 |" in lines
    assert "| streaming_dag | 72.0 | 1.80 | 128.0 | 64.0 | 2/2 |" in lines


def test_busy_cpu_seconds_grow_with_work() -> None:
    before = busy_cpu_seconds()
    sum(range(3_000_000))
    assert busy_cpu_seconds() > before > 0
