"""The two small interfaces the engine is written against: a source and a target, each bound to its connection.

Sources: ``mssql.source.SqlServerSource`` (pymssql) and ``postgres.source.PostgresSource``
(pg8000). Targets: ``postgres.target.PostgresTarget`` and ``mssql.target.SqlServerTarget``.
``load.py`` and ``verify.py`` see only these protocols; ``airflow/connections.py`` is the one
place that picks an implementation for a connection. Both sides are ``Checksummable`` (``verify.py``): verification asks each of them the
same questions, in its own SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from include.replication.foreign_keys import Reference, Status
from include.replication.models import Index, KeyRange, KeySet, SourceTable, TableName, TargetColumn
from include.replication.partitions import KeyDistribution
from include.replication.settings import NulPolicy
from include.replication.verify import Checksummable

Sink = Callable[[bytes], None]


class LoginRejected(ConnectionError):
    """The server answered and refused: a wrong password, an unknown user or database. Retrying will not help.

    A plain ``ConnectionError`` (refused, timed out, dropped) may pass; this one is configuration.
    """


@dataclass(frozen=True)
class Snapshot:
    """One consistent view of a source: ``taken`` when every read inside it sees the same committed state.

    ``description`` says which (for the run summary), or why none could be taken.
    """

    taken: bool
    description: str


# A table's shape on a target, as its catalog spells it: (column, type, nullable) in order, then the key.
Shape = tuple[tuple[tuple[str, str, bool], ...], tuple[str, ...]]


@dataclass(frozen=True)
class ReadResult:
    """What one read produced: rows written to the sink, and NUL characters stripped per column."""

    rows: int
    nul_stripped: dict[str, int]


class Source(Checksummable, Protocol):
    """A source database: its catalog, its types' mapping, and its rows as COPY text."""

    engine: str  # "mssql" | "postgres": the Airflow connection type
    default_schema: str  # "dbo" | "public"

    def fetch_tables(self, schema: str) -> list[SourceTable]:
        """Read every base table of ``schema`` with columns, primary key, foreign keys, indexes."""

    def map_columns(self, table: SourceTable) -> tuple[TargetColumn, ...]:
        """The target column of every source column; an unknown type raises ``UnsupportedTypeError``."""

    def stream_rows(
        self,
        table: SourceTable,
        columns: Sequence[TargetColumn],
        sink: Sink,
        *,
        nul_policy: NulPolicy,
        key_range: KeyRange | KeySet | None = None,
    ) -> ReadResult:
        """Write the table's rows (or a key range) to ``sink`` as COPY text-format lines."""

    def key_distribution(self, table: SourceTable, key: str) -> KeyDistribution:
        """The key's distribution for the partition planner, from statistics where the server has them."""

    def snapshot(self) -> AbstractContextManager[Snapshot]:
        """Read inside one snapshot for the block (a read-only transaction), or say why the source has none."""

    def close(self) -> None:
        """Close the connection."""


class Target(Checksummable, Protocol):
    """A target database: the steps of a staged, verified, atomic table load (``load.py`` orders them).

    Every step runs inside ``transaction()`` unless it says otherwise; a failure anywhere rolls
    the whole load back and leaves the live table as it was.
    """

    engine: str

    def transaction(self) -> AbstractContextManager[None]:
        """One transaction: commit on success, roll back (or drop the connection) on any failure."""

    def ensure_schema(self, schema: str) -> None:
        """Create ``schema`` if it is missing (outside any load's transaction)."""

    def exists(self, table: TableName) -> bool:
        """Whether ``table`` exists."""

    def staging_table(self, table: TableName, *, bulk: bool = False) -> TableName:
        """The name of ``table``'s staging table (``bulk``: the bulk DAG's, a different name); within identifier limits."""

    def claim(self, table: TableName) -> None:
        """Hold ``table`` against other runs on this target until the transaction ends, waiting while one writes it."""

    def create_table(self, table: TableName, columns: Sequence[TargetColumn], *, replace: bool) -> None:
        """Create ``table`` (dropping an existing one first when ``replace``), identity columns included."""

    def drop_table(self, table: TableName) -> None:
        """Drop ``table`` if it exists."""

    def add_primary_key(self, table: TableName, key: Sequence[str]) -> None:
        """The primary key on ``table`` (a staging table's key is renamed by ``swap``)."""

    def create_indexes(self, table: TableName, indexes: Sequence[Index]) -> None:
        """Secondary indexes on a staging table (renamed by ``swap``)."""

    def copy_in(
        self, table: TableName, columns: Sequence[TargetColumn], chunks: Iterable[bytes], *, fresh: bool
    ) -> int:
        """Load COPY text ``chunks`` into ``table``; ``fresh``: created in this transaction. Returns rows loaded."""

    def clear_range(self, table: TableName, key_range: KeyRange | KeySet | None) -> None:
        """Delete a key range's rows (every row when ``key_range`` is None): a retried partition starts clean."""

    def shape(self, table: TableName) -> Shape | None:
        """``table``'s columns and primary key as the catalog spells them (None: no such table): sync compares them."""

    def swap(self, staging: TableName, table: TableName, *, columns: Sequence[TargetColumn], indexes: Sequence[Index],
             has_key: bool) -> None:  # fmt: skip
        """Replace ``table`` by ``staging``: names of key, indexes and identity follow; identity moved past max."""

    def dependent_views(self, table: TableName) -> list[str]:
        """Views that would stop ``swap`` from replacing ``table``: the run names them before any data moves."""

    def align_identity(self, table: TableName, columns: Sequence[TargetColumn]) -> None:
        """Move the identity column's next value past ``max(column)`` (1 when no value is positive)."""

    def close(self) -> None:
        """Close the connection."""

    def foreign_keys(self, schema: str) -> list[Reference]:
        """Every foreign key whose table or referenced table is in ``schema``, as the target's catalog spells it."""

    def drop_foreign_key(self, reference: Reference) -> None:
        """Drop one foreign key (inside the caller's transaction)."""

    def add_foreign_key(self, reference: Reference) -> Status:
        """Add a foreign key without checking existing rows, then validate it (each step committed on its own).

        ``VALIDATED``; ``NOT_VALID`` when rows violate it (kept, enforced for new rows); ``NOT_CREATED``
        when rows violate it and the server cannot keep an unchecked one. Other refusals raise.
        """

    def dangling_references(
        self, reference: Reference, *, key: Sequence[str], limit: int
    ) -> tuple[int, list[tuple[Any, ...]]]:
        """Rows whose (non-NULL) columns reference no row: how many, and the first ``limit`` by ``key`` (key, columns)."""
