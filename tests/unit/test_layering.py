"""The engine's layers, held by its imports (docs/architecture.md draws them).

- only ``airflow/`` imports Airflow; the DAG files import only ``airflow.sdk`` and that layer;
- the core (the top-level modules and ``copy/``) imports no engine package and no driver;
- an engine package (``mssql/``, ``postgres/``) imports no other engine, and its target modules
  nothing of its source modules: what both sides share sits in the engine's ``dialect.py``;
- each driver is imported by its engine only (and pg8000 by the module that opens connections).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "include" / "replication"
DAGS = ROOT / "dags"
ENGINES = ("mssql", "postgres")
TARGET_MODULES = {"postgres/target.py", "postgres/ddl.py", "mssql/target.py"}
SOURCE_MODULES = {"postgres/source.py", "postgres/catalog.py", "postgres/copy_out.py", "postgres/types.py",
                  "mssql/source.py"}  # fmt: skip


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, absolute names."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = {p.relative_to(PACKAGE).as_posix(): imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> str:
    """``airflow``, an engine's name, or ``core`` (top-level modules and ``copy/``)."""
    head = module.split("/")[0]
    return head if head in ("airflow", *ENGINES) else "core"


def uses(module: str, prefix: str) -> list[str]:
    return sorted(name for name in MODULES[module] if name == prefix or name.startswith(prefix + "."))


@pytest.mark.parametrize("module", [m for m in MODULES if layer(m) != "airflow"])
def test_only_the_airflow_layer_imports_airflow(module):
    assert uses(module, "airflow") == []


@pytest.mark.parametrize("module", [m for m in MODULES if layer(m) == "core"])
def test_the_core_imports_no_engine_and_no_driver(module):
    for engine in ENGINES:
        assert uses(module, f"include.replication.{engine}") == []
    assert uses(module, "include.replication.airflow") == []
    for driver in ("pg8000", "pymssql"):
        assert uses(module, driver) == []


@pytest.mark.parametrize("module", [m for m in MODULES if layer(m) in ENGINES])
def test_engines_import_no_other_engine(module):
    for other in ENGINES:
        if other != layer(module):
            assert uses(module, f"include.replication.{other}") == []
    assert uses(module, "include.replication.airflow") == []


@pytest.mark.parametrize("module", sorted(TARGET_MODULES))
def test_target_modules_import_no_source_module(module):
    sources = {"include.replication." + m.removesuffix(".py").replace("/", ".") for m in SOURCE_MODULES}
    assert MODULES[module] & sources == set()


@pytest.mark.parametrize(("driver", "allowed"), [("pymssql", ("mssql",)), ("pg8000", ("postgres", "airflow"))])
def test_drivers_stay_in_their_engine(driver, allowed):
    assert [m for m in MODULES if uses(m, driver) and layer(m) not in allowed] == []


@pytest.mark.parametrize("dag_file", sorted(DAGS.glob("*.py")), ids=lambda p: p.name)
def test_dag_files_import_only_the_sdk_and_the_airflow_layer(dag_file):
    """DAG files wire tasks: Airflow's SDK, the ``@task`` layer and the level names, nothing else."""
    allowed = ("__future__", "datetime", "airflow.sdk", "include.replication.airflow", "include.replication.levels")
    names = {n for n in imports(dag_file) if not any(n.startswith(a + ".") for a in allowed)}
    assert names <= set(allowed)


def test_every_module_is_classified():
    """A new top-level folder must be placed in a layer here, not fall into 'core' unnoticed."""
    folders = {p.parent.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")} - {"."}
    assert folders == {"airflow", "copy", *ENGINES}
