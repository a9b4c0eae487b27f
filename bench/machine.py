"""What the benchmark ran on: cores, RAM, disk, kernel and every version that matters."""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "apache-airflow",
    "apache-airflow-providers-common-sql",
    "apache-airflow-providers-postgres",
    "pg8000",
    "psycopg",
    "matplotlib",
)


def _run(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _meminfo_gib() -> float | None:
    try:
        line = next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal:"))
    except (OSError, StopIteration):
        return None
    return round(int(line.split()[1]) / 2**20, 1)


def _cpu_model() -> str:
    try:
        return next(
            x.split(":", 1)[1].strip()
            for x in Path("/proc/cpuinfo").read_text().splitlines()
            if x.startswith("model name")
        )
    except (OSError, StopIteration):
        return platform.processor()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def busy_cpu_seconds() -> float:
    """CPU seconds every core of this machine has spent busy since boot (``/proc/stat``).

    User, nice, system, irq and softirq time; not idle, I/O wait or steal (another VM's time on
    a shared host). The difference over a run is the work every process on the machine did.
    """
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def describe(*, data_dir: Path, postgres_version: str, psql: Path) -> dict:
    """The ``machine`` block of the results file."""
    disk = _run("df", "-hT", str(data_dir)).splitlines()
    pgloader = shutil.which("pgloader")
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "ram_gib": _meminfo_gib(),
        "disk": disk[-1] if disk else "",  # filesystem, type, size, used, available of the database's folder
        "kernel": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "load_average_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "postgresql_server": postgres_version,
        "psql": _run(str(psql), "--version"),
        "pgloader": _run(pgloader, "--version").splitlines()[0] if pgloader else None,
        "packages": {name: _version(name) for name in PACKAGES},
        "git_commit": _run("git", "-C", str(Path(__file__).resolve().parent.parent), "rev-parse", "--short", "HEAD"),
    }
