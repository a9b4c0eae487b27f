"""Small frozen records passed between the replication modules (and, as dicts, through XCom)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

# Integer type names as both source engines' catalogs spell them (SQL Server, PostgreSQL format_type)
INTEGER_TYPES = frozenset({"tinyint", "smallint", "int", "integer", "bigint"})


@dataclass(frozen=True)
class SourceColumn:
    """One source column as the source catalog describes it.

    ``data_type`` is the engine's own lower-case type name (SQL Server: ``nvarchar``, ``datetime2``;
    PostgreSQL: ``format_type()`` text such as ``character varying(40)``). ``char_length`` is in
    characters, -1 for ``(max)``; ``precision``/``scale`` are for numeric and temporal types.
    """

    name: str
    data_type: str
    nullable: bool
    char_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    identity: bool = False


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key as the source declares it (read for load order; not created on the target)."""

    name: str
    columns: tuple[str, ...]
    referenced_schema: str
    referenced_table: str
    referenced_columns: tuple[str, ...]


@dataclass(frozen=True)
class Index:
    """A secondary index (the primary key is ``SourceTable.primary_key``)."""

    name: str
    columns: tuple[str, ...]
    unique: bool


@dataclass(frozen=True)
class TableName:
    """A table on either side: schema and name, unquoted (the engine's dialect quotes them)."""

    schema: str
    name: str

    @property
    def qualified(self) -> str:
        """``schema.name`` for messages (not for SQL: use the dialect's quoting)."""
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class KeyRange:
    """Rows whose (single, integer) key is in ``[low, high)``; ``None`` leaves that side open."""

    column: str
    low: int | None = None
    high: int | None = None


@dataclass(frozen=True)
class KeySet:
    """Rows whose (single, integer) key lies in one of ``runs``: sorted, disjoint ``[low, high)`` pairs.

    What a sync re-copies: the keys found missing, extra or different, as runs of consecutive keys.
    """

    column: str
    runs: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, column: str, keys: Sequence[int]) -> KeySet:
        """The runs of consecutive integers in ``keys`` (any order, duplicates allowed)."""
        return cls.from_ranges(column, [(int(k), int(k) + 1) for k in keys])

    @classmethod
    def from_ranges(cls, column: str, ranges: Sequence[tuple[int, int]]) -> KeySet:
        """``[low, high)`` ranges as sorted runs, overlapping or adjacent ones merged."""
        runs: list[list[int]] = []
        for low, high in sorted(ranges):
            if runs and low <= runs[-1][1]:
                runs[-1][1] = max(runs[-1][1], high)
            else:
                runs.append([low, high])
        return cls(column, tuple((low, high) for low, high in runs))

    @property
    def keys(self) -> int:
        """How many key values the runs cover."""
        return sum(high - low for low, high in self.runs)

    def batches(self, runs: int) -> list[KeySet]:
        """This set cut into sets of at most ``runs`` runs: one statement each."""
        return [KeySet(self.column, self.runs[i : i + runs]) for i in range(0, len(self.runs), runs)]


@dataclass(frozen=True)
class SourceTable(TableName):
    """One source table as its catalog describes it: what the copy reads and the target recreates."""

    columns: tuple[SourceColumn, ...]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    indexes: tuple[Index, ...] = ()
    approx_rows: int = 0

    @property
    def integer_key(self) -> str | None:
        """The single integer primary-key column, if the table has one: what key ranges are cut on."""
        if len(self.primary_key) != 1:
            return None
        column = next((c for c in self.columns if c.name == self.primary_key[0]), None)
        return column.name if column is not None and column.data_type in INTEGER_TYPES else None

    def columns_for(self, targets: Sequence[TargetColumn]) -> list[SourceColumn]:
        """The source columns behind ``targets`` (same names), in their order."""
        by_name = {c.name: c for c in self.columns}
        missing = [c.name for c in targets if c.name not in by_name]
        if missing:
            raise ValueError(f"{self.qualified}: no source column named {', '.join(missing)}")
        return [by_name[c.name] for c in targets]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceTable:
        return cls(
            schema=data["schema"],
            name=data["name"],
            columns=tuple(SourceColumn(**c) for c in data["columns"]),
            primary_key=tuple(data["primary_key"]),
            foreign_keys=tuple(
                ForeignKey(
                    name=fk["name"],
                    columns=tuple(fk["columns"]),
                    referenced_schema=fk["referenced_schema"],
                    referenced_table=fk["referenced_table"],
                    referenced_columns=tuple(fk["referenced_columns"]),
                )
                for fk in data["foreign_keys"]
            ),
            indexes=tuple(
                Index(name=i["name"], columns=tuple(i["columns"]), unique=i["unique"]) for i in data["indexes"]
            ),
            approx_rows=data["approx_rows"],
        )


@dataclass(frozen=True)
class TargetColumn:
    """A target column: its type as written in the target's DDL, nullability and identity."""

    name: str
    data_type: str
    nullable: bool
    identity: bool = False


def identity_column(columns: Sequence[TargetColumn]) -> str | None:
    """The identity column's name, if the table has one."""
    return next((c.name for c in columns if c.identity), None)
