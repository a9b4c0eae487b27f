"""Every command the project prints or documents names an interpreter that works: ``.venv/bin/python``.

A bare ``python -m …`` fails on machines without a ``python`` (Debian and Ubuntu ship none) and,
where one exists, it is not the project's virtual environment, which has the packages.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Where commands are documented (Markdown) or printed (usage lines, messages, recorded commands).
SOURCES = ["README.md", "TESTING_RESULTS.md", "Makefile", "docs/**/*.md", "tests/mssql/README.md", "localdev/*.py",
           "bench/**/*.py", "include/stackoverflow/*.py", ".ci/run"]  # fmt: skip
BARE = re.compile(r"(?:^|[^/.\w-])(python3?(?:\.\d+)? -m \S+|`pytest \S+)")


def documented_files() -> list[Path]:
    return sorted({path for pattern in SOURCES for path in ROOT.glob(pattern) if path.is_file()})


@pytest.mark.parametrize("path", documented_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_commands_use_the_project_interpreter(path: Path) -> None:
    """No bare ``python -m``/``pytest`` in what users read or copy."""
    bare = [
        f"{number}: {match.group(1)}"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        for match in BARE.finditer(line)
    ]
    assert not bare, f"use .venv/bin/python: {bare}"
