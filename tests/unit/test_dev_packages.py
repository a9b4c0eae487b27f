"""A test whose dev-only package is missing skips, naming it; under ``make test`` it fails instead.

``astro dev pytest`` runs the suite in the Astro image, without requirements-dev.in's packages.
A scratch test that needs a package nobody installed runs in a pytest subprocess, both ways.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NEEDS_MISSING = """
from tests.conftest import dev_package

def test_needs_it():
    dev_package("a_package_nobody_installed")
"""


def run_scratch_test(tmp_path: Path, *, strict: bool) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_scratch.py").write_text(NEEDS_MISSING)
    env = {key: value for key, value in os.environ.items() if key != "REPLICATION_TEST_STRICT"}
    if strict:
        env["REPLICATION_TEST_STRICT"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rsf", "--rootdir", str(tmp_path), str(tmp_path)],
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_dev_package_skips_with_its_name(tmp_path: Path) -> None:
    """Outside make test: skipped, and the reason names the package."""
    result = run_scratch_test(tmp_path, strict=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
    assert "a_package_nobody_installed is not installed: a dev-only package (requirements-dev.in)" in result.stdout


def test_missing_dev_package_fails_under_make_test(tmp_path: Path) -> None:
    """With REPLICATION_TEST_STRICT=1 (make test sets it) the same test fails."""
    result = run_scratch_test(tmp_path, strict=True)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed" in result.stdout
    assert "REPLICATION_TEST_STRICT is set" in result.stdout
