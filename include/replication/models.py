"""Small frozen records passed between the replication modules (and, as dicts, through XCom)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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
class SourceTable:
    schema: str
    name: str
    columns: tuple[SourceColumn, ...]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    indexes: tuple[Index, ...] = ()
    approx_rows: int = 0

    @property
    def qualified(self) -> str:
        """``schema.name`` for messages (not for SQL: use the dialect's quoting)."""
        return f"{self.schema}.{self.name}"

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
    """A target PostgreSQL column: its type text as written in DDL, nullability and identity."""

    name: str
    pg_type: str
    nullable: bool
    identity: bool = False


@dataclass(frozen=True)
class TableStats:
    """What one table (or partition) load did: the run summary's row."""

    table: str
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    peak_memory_mb: float = 0.0
    spilled_bytes: int = 0
    nul_stripped: dict[str, int] = field(default_factory=dict)
    partition: str | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0
