"""The Makefile: `make` lists every target, and `make venv` picks an interpreter that works or says which to install.

make runs for real, on a copy of the Makefile in a temporary folder with a PATH that holds only
the interpreters a case needs (nothing is installed: ``-n`` prints the commands instead).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def phony_targets() -> list[str]:
    """The targets the Makefile declares .PHONY."""
    line = next(line for line in (ROOT / "Makefile").read_text().splitlines() if line.startswith(".PHONY:"))
    return line.split(":", 1)[1].split()


def make(folder: Path, *args: str, path: str) -> subprocess.CompletedProcess[str]:
    """Run make in ``folder`` with only ``path`` on PATH."""
    return subprocess.run(
        [MAKE, "--no-print-directory", *args],
        cwd=folder,
        env={"PATH": path},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with the Makefile and the files its venv target depends on, and no .venv."""
    for name in ("Makefile", "requirements.txt", "requirements-dev.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "bin").mkdir()
    return tmp_path


def test_make_alone_lists_every_target(project: Path) -> None:
    """`make` (help) prints one line for each target, with its description."""
    listed = make(project, path=os.environ["PATH"])
    assert listed.returncode == 0, listed.stderr
    lines = {m.group(1): m.group(2) for m in re.finditer(r"^  ([a-z][a-z-]*) {2,}(\S.*)$", listed.stdout, re.MULTILINE)}
    assert set(lines) == set(phony_targets())
    assert all(lines.values())


def test_no_supported_python_names_the_versions_to_install(project: Path) -> None:
    """With no Python 3.11-3.14 on PATH, make venv stops before creating anything and says what to install."""
    result = make(project, "venv", path=str(project / "bin"))
    assert result.returncode != 0
    assert "No Python 3.11-3.14 found: tried python3 python3.11 python3.12 python3.13 python3.14" in result.stderr
    assert "Install one of Python 3.11 3.12 3.13 3.14" in result.stderr
    assert "PYTHON=/path/to/python3.12" in result.stderr
    assert not (project / ".venv").exists()


def test_a_name_that_does_not_run_is_passed_over(project: Path) -> None:
    """A python3 that fails (as pyenv's shim does for a version it does not have active) is skipped for one that runs."""
    shim = project / "bin" / "python3"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    minor = f"python3.{sys.version_info.minor}"
    (project / "bin" / minor).symlink_to(sys.executable)
    result = make(project, "-n", "venv", path=str(project / "bin"))
    assert result.returncode == 0, result.stderr
    assert f"{minor} -m venv .venv" in result.stdout


def test_an_unsupported_python_given_by_name_is_refused(project: Path) -> None:
    """PYTHON=... naming an interpreter outside 3.11-3.14 stops with its version."""
    old = project / "bin" / "python-old"
    old.write_text("#!/bin/sh\n[ \"$1\" = --version ] && echo 'Python 3.10.13'\nexit 1\n")
    old.chmod(0o755)
    result = make(project, "venv", f"PYTHON={old}", path=f"{project / 'bin'}:/usr/bin:/bin")
    assert result.returncode != 0
    assert f"PYTHON={old} is not Python 3.11-3.14: Python 3.10.13" in result.stderr
