"""Every DAG file imports without error: the check `astro dev parse` runs, for Airflow 3.

The Astro CLI writes this file on `astro dev init` and runs it in the project's image before a
deploy and on `astro dev parse`. Its template is written for Airflow 2 (``airflow.models.Variable``,
``airflow.hooks.base.BaseHook``, ``initdb()``) and calls ``DagBag(include_examples=False)``, an
argument Airflow 3.3 no longer takes. This version keeps the template's contract with Airflow 3's
public names (``airflow.sdk``):

- one test per DAG file, its id the file's path relative to the project (``dags/x.py``);
- while the files are parsed, connection and Variable look-ups and unset environment variables
  answer placeholders instead of failing, so a file is judged on its own imports and not on the
  machine that parses it. The template patches them for the whole pytest session; here they are
  patched only while parsing, so the tests that run after it see the real ones;
- a file named in ``.astro/dag_integrity_exceptions.txt`` (one path per line) may fail.

No metadata database is needed: with those look-ups answered, parsing reads none. `make test`
runs this file too; ``tests/dags/test_dag_integrity.py`` is stricter (any parse-time look-up fails).
"""

from __future__ import annotations

import os
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[1]
DAGS_DIR = PROJECT_DIR / "dags"
EXCEPTIONS_FILE = PROJECT_DIR / ".astro" / "dag_integrity_exceptions.txt"
_UNSET = object()


@contextmanager
def placeholder_lookups() -> Generator[None]:
    """Answer connection, Variable and environment look-ups with placeholders, for the duration of a parse."""
    from airflow.sdk import BaseHook, Connection, Variable

    real_getenv = os.getenv

    def get_connection(cls: type, conn_id: str) -> Connection:
        print(f"parse-time connection look-up: {conn_id!r} answered with an empty Connection")
        return Connection(conn_id=conn_id, conn_type="generic")

    def get_variable(key: str, default: Any = _UNSET, deserialize_json: bool = False) -> Any:
        print(f"parse-time Variable look-up: {key!r} answered with a placeholder")
        if default is not _UNSET:
            return default
        return {} if deserialize_json else f"PLACEHOLDER_{key.upper()}_VALUE"

    def getenv(key: str, default: Any = None) -> Any:
        value = real_getenv(key)
        if value is not None:
            return value
        return default if default is not None else f"PLACEHOLDER_{key.upper()}_VALUE"

    patch = pytest.MonkeyPatch()
    patch.setattr(BaseHook, "get_connection", classmethod(get_connection))
    patch.setattr(Variable, "get", staticmethod(get_variable))
    patch.setattr(os, "getenv", getenv)
    try:
        yield
    finally:
        patch.undo()


def parse_results() -> dict[str, str | None]:
    """``{path relative to the project: import error or None}`` for every DAG file in dags/."""
    from airflow.dag_processing.dagbag import DagBag

    with placeholder_lookups():
        dagbag = DagBag(str(DAGS_DIR))
    results: dict[str, str | None] = {}
    for dag in dagbag.dags.values():
        results[os.path.relpath(dag.fileloc, PROJECT_DIR)] = None
    for path, error in dagbag.import_errors.items():
        results[os.path.relpath(path, PROJECT_DIR)] = error.strip()
    return dict(sorted(results.items()))


def allowed_failures() -> set[str]:
    """Paths in dag_integrity_exceptions.txt (blank lines and # comments ignored)."""
    if not EXCEPTIONS_FILE.exists():
        return set()
    lines = (line.split("#", 1)[0].strip() for line in EXCEPTIONS_FILE.read_text(encoding="utf-8").splitlines())
    return {line for line in lines if line}


RESULTS = parse_results()


def test_dags_folder_has_dag_files() -> None:
    """The parse found DAG files at all (a wrong folder would otherwise pass with no test)."""
    assert RESULTS, f"no DAG file found in {DAGS_DIR}"


@pytest.mark.parametrize("rel_path", list(RESULTS))
def test_file_imports(rel_path: str) -> None:
    """The DAG file imports without error, unless dag_integrity_exceptions.txt allows it to fail."""
    error = RESULTS[rel_path]
    if error is not None and rel_path not in allowed_failures():
        pytest.fail(f"{rel_path} failed to import:\n{error}", pytrace=False)
