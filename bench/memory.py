"""Peak resident memory of every process below a root process, sampled from ``/proc`` in a thread.

Why sampling and not ``/usr/bin/time``: LocalExecutor forks each task process from the scheduler,
so no command of ours wraps them. Every ~100 ms the sampler walks ``/proc/*/stat`` for the
descendants of the root and reads each one's ``VmHWM`` (the kernel's exact high-water mark, so
short peaks between samples still count) and ``VmRSS``. A process alive before sampling began
(the Airflow components, whose lifetime mark predates the run) reports its largest sampled
``VmRSS`` instead. RSS counts pages shared with the parent after ``fork()``, as ``ps`` does.
Linux only; on other systems nothing is recorded.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from bench.results import ProcessPeak

SAMPLE_S = 0.1
PROC = Path("/proc")


def _stat(pid: str) -> tuple[int, str] | None:
    """(parent pid, start time) of ``pid``: start time tells a reused pid from the old process."""
    try:
        raw = (PROC / pid / "stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # the command in (...) may contain spaces
    return int(fields[1]), fields[19]


def _status_kb(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) in kB; zeros for a process that is gone or a kernel thread."""
    found = {"VmHWM:": 0, "VmRSS:": 0}
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            key = line.split(":", 1)[0] + ":"
            if key in found:
                found[key] = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return found["VmHWM:"], found["VmRSS:"]


def _title(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


class TreeSampler:
    """Record per-process peaks and the peak sum of a role's RSS below ``root`` (itself excluded)."""

    def __init__(self, classify: Callable[[str], str | None], *, root: int | None = None, interval: float = SAMPLE_S):
        self._classify = classify  # process title -> role, or None to inherit the parent's role
        self._root = root or os.getpid()
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-memory", daemon=True)
        self._seen: dict[tuple[int, str], dict] = {}
        self._preexisting: set[tuple[int, str]] = set()
        self.peak_sum_mb: dict[str, float] = {}

    def __enter__(self) -> TreeSampler:
        self._preexisting = set(self._tree())
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def peaks(self) -> list[ProcessPeak]:
        """Every process seen, largest first."""
        found = [
            ProcessPeak(pid=key[0], role=p["role"], title=p["title"][:200], peak_mb=round(p["peak_kb"] / 1024, 1))
            for key, p in self._seen.items()
        ]
        return sorted(found, key=lambda p: -p.peak_mb)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def _tree(self) -> dict[tuple[int, str], tuple[int, str]]:
        """``{(pid, start): (parent, parent start)}`` for every descendant of the root."""
        stats = {int(d.name): s for d in PROC.iterdir() if d.name.isdigit() and (s := _stat(d.name))}
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in stats.items():
            children.setdefault(ppid, []).append(pid)
        tree: dict[tuple[int, str], tuple[int, str]] = {}
        stack = [self._root]
        while stack:
            parent = stack.pop()
            for pid in children.get(parent, []):
                tree[(pid, stats[pid][1])] = (parent, stats[parent][1] if parent in stats else "")
                stack.append(pid)
        return tree

    def _sample(self) -> None:
        sums: dict[str, int] = {}
        for key, parent in self._tree().items():
            hwm, rss = _status_kb(key[0])
            if not rss:
                continue
            entry = self._seen.get(key)
            title = _title(key[0])  # re-read: a task process sets its title after it starts
            if entry is None or entry["title"] != title:
                inherited = self._seen.get(parent, {}).get("role") or os.path.basename(title.split(" ")[0] or "?")
                role = self._classify(title) or inherited
                entry = self._seen.setdefault(key, {"peak_kb": 0})
                entry.update(title=title, role=role)
            peak = rss if key in self._preexisting else max(hwm, rss)
            entry["peak_kb"] = max(entry["peak_kb"], peak)
            sums[entry["role"]] = sums.get(entry["role"], 0) + rss
        for role, kb in sums.items():
            self.peak_sum_mb[role] = max(self.peak_sum_mb.get(role, 0.0), round(kb / 1024, 1))
