"""``.astro/test_dag_integrity_default.py`` (what `astro dev parse` runs) on a project with a broken DAG file.

The real file runs under pytest in a scratch project: a good DAG, one that looks up a Variable,
a connection and an unset environment variable while it is parsed, and one that cannot import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
from airflow.sdk import dag, task

@dag(schedule=None)
def good():
    @task
    def hello():
        return 1
    hello()

good()
"""

LOOKUPS = """
import os
from airflow.sdk import BaseHook, Variable, dag

TABLES = Variable.get("tables_to_copy", deserialize_json=True)
HOST = BaseHook.get_connection("warehouse").host
BUCKET = os.getenv("STAGING_BUCKET_NOBODY_SET")

@dag(schedule=None, tags=[BUCKET])
def with_lookups():
    pass

with_lookups()
"""

BROKEN = """
from airflow.sdk import dag
import a_module_nobody_installed

@dag(schedule=None)
def broken():
    pass

broken()
"""

AFTER = """
import os

def test_lookups_are_real_again_after_the_parse():
    assert os.getenv("STAGING_BUCKET_NOBODY_SET") is None
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A scratch Astro project: the parse check, three DAG files, a test that runs after the parse."""
    (tmp_path / ".astro").mkdir()
    shutil.copy(ROOT / ".astro" / "test_dag_integrity_default.py", tmp_path / ".astro")
    dags = tmp_path / "dags"
    dags.mkdir()
    for name, text in {"good.py": GOOD, "with_lookups.py": LOOKUPS, "broken.py": BROKEN}.items():
        (dags / name).write_text(text)
    (tmp_path / "test_after_parse.py").write_text(AFTER)
    return tmp_path


def parse_check(project: Path) -> subprocess.CompletedProcess[str]:
    """Run the parse check as `astro dev parse` does (pytest on the file), then the after-parse test."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-v",
            ".astro/test_dag_integrity_default.py",
            "test_after_parse.py",
        ],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_broken_file_fails_by_name_and_lookups_get_placeholders(project: Path) -> None:
    """Only the file that cannot import fails, naming its error; parse-time look-ups do not fail a file."""
    result = parse_check(project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "test_file_imports[dags/good.py] PASSED" in result.stdout
    assert "test_file_imports[dags/with_lookups.py] PASSED" in result.stdout
    assert "test_file_imports[dags/broken.py] FAILED" in result.stdout
    assert "dags/broken.py failed to import" in result.stdout
    assert "a_module_nobody_installed" in result.stdout
    assert "test_lookups_are_real_again_after_the_parse PASSED" in result.stdout


@pytest.mark.slow
def test_listed_exception_may_fail(project: Path) -> None:
    """A file named in dag_integrity_exceptions.txt does not fail the check."""
    (project / ".astro" / "dag_integrity_exceptions.txt").write_text("# allowed to fail\ndags/broken.py\n")
    result = parse_check(project)
    assert result.returncode == 0, result.stdout + result.stderr
