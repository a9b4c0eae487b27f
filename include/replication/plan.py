"""What a run will copy, decided once before any data moves: the tables, their target columns, their levels.

``build_plan`` selects the tables, maps every column's type (an unknown type fails here, naming
table, column and type) and assigns the dependency levels. The plan travels to every task as a
plain dict (``to_dict``/``from_dict``); each task takes from it one ``TableJob``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from include.replication.levels import STATIC_TABLES, assign_levels
from include.replication.models import SourceTable, TableName, TargetColumn
from include.replication.settings import NulPolicy, ReplicationSettings

_STATIC = frozenset(name for level in STATIC_TABLES for name in level)


class PlanError(ValueError):
    """The run cannot be planned as asked (a missing table, an unsupported type); retrying will not help."""


class UnsupportedTypeError(PlanError):
    """A source column whose type this project cannot replicate; the message names table, column and type."""


@dataclass(frozen=True)
class TableJob:
    """One table to copy: what the source holds, the columns the target gets, and the run's settings."""

    table: SourceTable
    columns: tuple[TargetColumn, ...]
    settings: ReplicationSettings

    @property
    def target(self) -> TableName:
        """The live target table (same name as the source table, in the target schema)."""
        return TableName(self.settings.target_schema, self.table.name)


@dataclass(frozen=True)
class ReplicationPlan:
    """The selected tables of one source schema, with their target columns and dependency levels."""

    settings: ReplicationSettings
    source_engine: str
    source_schema: str
    tables: dict[str, SourceTable]  # in the catalog's order
    columns: dict[str, tuple[TargetColumn, ...]]
    levels: dict[str, int]
    target_engine: str = "postgres"

    def job(self, name: str) -> TableJob:
        """The job of one planned table."""
        return TableJob(self.tables[name], self.columns[name], self.settings)

    def other_tables(self, level: int) -> list[str]:
        """The planned tables of ``level`` beyond the nine StackOverflow tables (the DAG maps over them)."""
        return sorted(name for name, at in self.levels.items() if at == level and name not in _STATIC)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values for XCom."""
        return {
            "settings": self.settings.to_dict(),
            "source_engine": self.source_engine,
            "source_schema": self.source_schema,
            "tables": [table.to_dict() for table in self.tables.values()],
            "columns": {name: [asdict(c) for c in columns] for name, columns in self.columns.items()},
            "levels": self.levels,
            "target_engine": self.target_engine,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReplicationPlan:
        tables = [SourceTable.from_dict(t) for t in data["tables"]]
        return cls(
            settings=ReplicationSettings.from_dict(data["settings"]),
            source_engine=data["source_engine"],
            source_schema=data["source_schema"],
            tables={t.name: t for t in tables},
            columns={name: tuple(TargetColumn(**c) for c in cols) for name, cols in data["columns"].items()},
            levels=data["levels"],
            target_engine=data["target_engine"],
        )


def build_plan(
    settings: ReplicationSettings,
    *,
    source_engine: str,
    source_schema: str,
    tables: Iterable[SourceTable],
    map_columns: Callable[[SourceTable], tuple[TargetColumn, ...]],
    target_engine: str = "postgres",
) -> ReplicationPlan:
    """Select ``settings.tables`` minus ``exclude_tables``, map every column and assign levels."""
    if settings.nul_policy == NulPolicy.KEEP and target_engine != "mssql":
        raise PlanError(
            "nul_policy 'keep' needs a target whose text can hold U+0000 (SQL Server); PostgreSQL's cannot: "
            "use 'strip' (removed and counted) or 'fail'"
        )
    chosen = select_tables(list(tables), settings, schema=source_schema)
    columns = {table.name: map_columns(table) for table in chosen}
    return ReplicationPlan(
        settings, source_engine, source_schema, {t.name: t for t in chosen}, columns, assign_levels(chosen),
        target_engine,
    )  # fmt: skip


def select_tables(tables: list[SourceTable], settings: ReplicationSettings, *, schema: str) -> list[SourceTable]:
    """Apply ``tables``/``exclude_tables``; a named table the source lacks is an error listing what exists."""
    by_name = {t.name: t for t in tables}
    missing = [n for n in (*settings.tables, *settings.exclude_tables) if n not in by_name]
    if missing:
        raise PlanError(
            f"tables not found in source schema {schema!r}: {', '.join(missing)}. "
            f"Available: {', '.join(sorted(by_name)) or '(none)'}"
        )
    chosen = settings.tables or tuple(by_name)
    return [by_name[n] for n in chosen if n not in settings.exclude_tables]
