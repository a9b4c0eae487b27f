"""Foreign keys on the target: dropped for the loads, created once every table is loaded, each one reported.

Tables load concurrently, in any order, so no foreign key can be in force while they load: one
would reject a row whose referenced row has not arrived yet, and stop the swap from dropping a
table another table references. So a run first *releases* every foreign key on the target that
touches a table it writes (``release_foreign_keys``), and after the last load *settles* them
(``settle_foreign_keys``): the released ones are put back, and those the ``foreign_keys`` setting
asks for are created. Each is added without checking the existing rows (PostgreSQL ``NOT VALID``,
SQL Server ``WITH NOCHECK``), then validated; rows that reference nothing (StackOverflow's data has
them: votes of deleted posts) leave it not valid / untrusted, enforced for new rows only, and are
counted with sample keys for the run summary. The run does not fail over them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

from include.replication.models import SourceTable, TableName
from include.replication.settings import ForeignKeyMode

SAMPLE_KEYS = 5  # sample referencing rows named per dangling reference in the run summary

# StackOverflow's references, which the database does not declare: (table, column, referenced table).
# Every one points at the referenced table's primary key, Id.
STACKOVERFLOW_REFERENCES: tuple[tuple[str, str, str], ...] = (
    ("Posts", "OwnerUserId", "Users"),
    ("Posts", "LastEditorUserId", "Users"),
    ("Posts", "ParentId", "Posts"),
    ("Posts", "AcceptedAnswerId", "Posts"),
    ("Posts", "PostTypeId", "PostTypes"),
    ("Comments", "PostId", "Posts"),
    ("Comments", "UserId", "Users"),
    ("Votes", "PostId", "Posts"),
    ("Votes", "UserId", "Users"),
    ("Votes", "VoteTypeId", "VoteTypes"),
    ("Badges", "UserId", "Users"),
    ("PostLinks", "PostId", "Posts"),
    ("PostLinks", "RelatedPostId", "Posts"),
    ("PostLinks", "LinkTypeId", "LinkTypes"),
)
REFERENCED_KEY = "Id"
ACTIONS = frozenset({"NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT"})  # ON DELETE / ON UPDATE


@dataclass(frozen=True)
class Reference:
    """One foreign key on the target: ``table(columns)`` references ``referenced(referenced_columns)``."""

    table: TableName
    name: str
    columns: tuple[str, ...]
    referenced: TableName
    referenced_columns: tuple[str, ...]
    on_delete: str = "NO ACTION"
    on_update: str = "NO ACTION"

    def __post_init__(self) -> None:
        for action in (self.on_delete, self.on_update):
            if action not in ACTIONS:  # spliced into DDL: only the fixed words may get there
                raise ValueError(f"{self.table.qualified} foreign key {self.name}: unknown action {action!r}")

    def describe(self) -> str:
        """``Votes.PostId → Posts.Id``."""
        return (f"{self.table.name}.{', '.join(self.columns)} → "
                f"{self.referenced.name}.{', '.join(self.referenced_columns)}")  # fmt: skip

    def shape(self, fold: Callable[[str], str]) -> tuple[Any, ...]:
        """What makes two foreign keys the same, whatever their names (``fold``: the engine's identifier rule)."""
        return (fold(self.table.schema), fold(self.table.name), tuple(map(fold, self.columns)),
                fold(self.referenced.schema), fold(self.referenced.name), tuple(map(fold, self.referenced_columns)))  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reference:
        return cls(**{**data, "table": TableName(**data["table"]), "referenced": TableName(**data["referenced"]),
                      "columns": tuple(data["columns"]), "referenced_columns": tuple(data["referenced_columns"])})  # fmt: skip


class ForeignKeyRefused(RuntimeError):
    """The server refused a foreign key (no unique key on the referenced columns, a type mismatch, a name taken).

    Reported as not created; a broken connection is not this, and fails the task (to be retried).
    """


class Status(StrEnum):
    """What became of one foreign key."""

    VALIDATED = "validated"  # every row references an existing row; enforced and trusted
    NOT_VALID = "not valid"  # rows reference missing rows: kept NOT VALID (untrusted), enforced for new rows
    NOT_CREATED = "not created"  # the server refused it (said why), or cannot hold one its rows violate
    PRESENT = "already present"  # the target already has the same foreign key under some name


class Origin(StrEnum):
    """Why the run creates a foreign key."""

    RESTORED = "restored"  # it was on the target before the run, which dropped it for the loads
    SOURCE = "source"  # the source declares it
    STACKOVERFLOW = "stackoverflow"  # one of STACKOVERFLOW_REFERENCES


@dataclass(frozen=True)
class Outcome:
    """One foreign key the run settled: its status, and the dangling rows that kept it from validating."""

    reference: Reference
    origin: Origin
    status: Status
    dangling_rows: int = 0
    samples: tuple[str, ...] = ()  # e.g. "Votes.Id 5 (PostId 123)"
    note: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return _plain({**asdict(self), "origin": self.origin.value, "status": self.status.value})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Outcome:
        return cls(**{**data, "reference": Reference.from_dict(data["reference"]), "origin": Origin(data["origin"]),
                      "status": Status(data["status"]), "samples": tuple(data["samples"])})  # fmt: skip


@dataclass(frozen=True)
class ForeignKeyReport:
    """What the run did with foreign keys: released before the loads, settled after them, left out (and why)."""

    mode: ForeignKeyMode
    released: tuple[Reference, ...] = ()
    outcomes: tuple[Outcome, ...] = ()
    skipped: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode.value, "released": [r.to_dict() for r in self.released],
                "outcomes": [o.to_dict() for o in self.outcomes], "skipped": list(self.skipped)}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ForeignKeyReport:
        return cls(ForeignKeyMode(data["mode"]), tuple(Reference.from_dict(r) for r in data["released"]),
                   tuple(Outcome.from_dict(o) for o in data["outcomes"]), tuple(data["skipped"]))  # fmt: skip


class ForeignKeyTarget(Protocol):
    """The part of ``interfaces.Target`` this module uses (the full protocol there)."""

    engine: str

    def transaction(self) -> Any: ...
    def foreign_keys(self, schema: str) -> list[Reference]: ...
    def drop_foreign_key(self, reference: Reference) -> None: ...
    def add_foreign_key(self, reference: Reference) -> Status: ...
    def dangling_references(self, reference: Reference, *, key: Sequence[str], limit: int) -> tuple[int, list[tuple[Any, ...]]]: ...  # fmt: skip
    def shape(self, table: TableName) -> Any: ...


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """JSON values only (tuples as lists): XCom stores a tuple as a tagged object that a reader must know to undo."""
    return json.loads(json.dumps(data))


def identifier_rule(engine: str) -> Callable[[str], str]:
    """How the engine compares names: SQL Server (and Babelfish, whose catalog may lower-case them) without case."""
    return str.casefold if engine == "mssql" else str


def touching(
    references: Iterable[Reference], tables: Iterable[TableName], fold: Callable[[str], str]
) -> list[Reference]:
    """The foreign keys whose table or referenced table is one of ``tables``."""
    names = {(fold(t.schema), fold(t.name)) for t in tables}
    return [r for r in references
            if (fold(r.table.schema), fold(r.table.name)) in names
            or (fold(r.referenced.schema), fold(r.referenced.name)) in names]  # fmt: skip


def release_foreign_keys(target: ForeignKeyTarget, *, schema: str, tables: Iterable[TableName]) -> list[Reference]:
    """Drop, in one transaction, every foreign key on the target from or to one of ``tables``; return them.

    Any foreign key's, not only the ones a run created: each would stop a swap from dropping the
    table it references, or an append from adding a row whose referenced row comes later.
    ``settle_foreign_keys`` puts every one back.
    """
    released = touching(target.foreign_keys(schema), tables, identifier_rule(target.engine))
    if released:
        with target.transaction():
            for reference in released:
                target.drop_foreign_key(reference)
    return released


def wanted_references(
    tables: Mapping[str, SourceTable],
    *,
    mode: ForeignKeyMode,
    source_schema: str,
    target_schema: str,
    columns_of: Callable[[TableName], set[str] | None],
) -> tuple[list[tuple[Reference, Origin]], list[str]]:
    """The foreign keys ``mode`` asks for among the run's ``tables`` and the target's other tables, and what it cannot.

    ``columns_of``: a target table's column names, case-folded (None: no such table). A reference
    whose table or column is not on the target is left out, and the second list says so.
    """
    wanted: list[tuple[Reference, Origin]] = []
    skipped: list[str] = []
    if mode == ForeignKeyMode.OFF:
        return wanted, skipped
    for table in tables.values():
        for fk in table.foreign_keys:
            if fk.referenced_schema != source_schema:
                skipped.append(f"{table.name}.{', '.join(fk.columns)} → {fk.referenced_schema}.{fk.referenced_table}: "
                               f"references a table outside source schema {source_schema!r}, which is not replicated")  # fmt: skip
                continue
            reference = Reference(TableName(target_schema, table.name), fk.name, fk.columns,
                                  TableName(target_schema, fk.referenced_table), fk.referenced_columns)  # fmt: skip
            wanted.append((reference, Origin.SOURCE))
    if mode == ForeignKeyMode.STACKOVERFLOW:
        for name, column, referenced in STACKOVERFLOW_REFERENCES:
            if name in tables or referenced in tables:  # one side is written by this run
                reference = Reference(TableName(target_schema, name), f"FK_{name}_{column}", (column,),
                                      TableName(target_schema, referenced), (REFERENCED_KEY,))  # fmt: skip
                wanted.append((reference, Origin.STACKOVERFLOW))
    found: list[tuple[Reference, Origin]] = []
    for reference, origin in wanted:
        if missing := _missing_on_target(reference, columns_of):
            skipped.append(f"{reference.describe()}: {missing}")
        else:
            found.append((reference, origin))
    return found, skipped


def _missing_on_target(reference: Reference, columns_of: Callable[[TableName], set[str] | None]) -> str:
    for table, columns in ((reference.table, reference.columns), (reference.referenced, reference.referenced_columns)):
        present = columns_of(table)
        if present is None:
            return f"no table {table.qualified} on the target"
        if absent := [c for c in columns if c.casefold() not in present]:
            return f"{table.qualified} on the target has no column {', '.join(absent)}"
    return ""


def settle_foreign_keys(
    target: ForeignKeyTarget,
    *,
    mode: ForeignKeyMode,
    schema: str,
    released: Sequence[Reference],
    wanted: Sequence[tuple[Reference, Origin]],
    keys: Callable[[TableName], Sequence[str]],
    skipped: Sequence[str] = (),
    on_progress: Callable[[str], None] = lambda message: None,
) -> ForeignKeyReport:
    """Put back the ``released`` foreign keys and create the ``wanted`` ones: each added unchecked, then validated.

    One that does not validate is kept (not valid / untrusted) and its dangling rows are counted,
    with up to ``SAMPLE_KEYS`` of them named by ``keys(table)`` (the referencing table's primary key).
    A duplicate of a foreign key already settled or on the target is not created twice.
    """
    fold = identifier_rule(target.engine)
    present = {r.shape(fold) for r in target.foreign_keys(schema)}
    settled: set[tuple[Any, ...]] = set()
    outcomes: list[Outcome] = []
    for reference, origin in [*((r, Origin.RESTORED) for r in released), *wanted]:
        shape = reference.shape(fold)
        if shape in settled:
            continue
        settled.add(shape)
        if shape in present:
            outcomes.append(Outcome(reference, origin, Status.PRESENT))
            continue
        started = time.monotonic()
        outcome = settle_one(target, reference, origin, keys=keys)
        outcomes.append(_timed(outcome, started))
        on_progress(f"foreign key {reference.name} ({reference.describe()}): {outcome.status.value}"
                    + (f", {outcome.dangling_rows:,} dangling rows" if outcome.dangling_rows else ""))  # fmt: skip
    return ForeignKeyReport(mode, tuple(released), tuple(outcomes), tuple(skipped))


def settle_one(
    target: ForeignKeyTarget, reference: Reference, origin: Origin, *, keys: Callable[[TableName], Sequence[str]]
) -> Outcome:
    """Add one foreign key and validate it; count and sample its dangling rows when it does not validate."""
    try:
        status = target.add_foreign_key(reference)
    except ForeignKeyRefused as exc:
        return Outcome(reference, origin, Status.NOT_CREATED, note=str(exc))
    if status == Status.VALIDATED:
        return Outcome(reference, origin, status)
    key = tuple(keys(reference.table)) or reference.columns
    count, rows = target.dangling_references(reference, key=key, limit=SAMPLE_KEYS)
    note = ("this server cannot keep a foreign key that existing rows violate (no WITH NOCHECK): not created"
            if status == Status.NOT_CREATED else "")  # fmt: skip
    return Outcome(reference, origin, status, dangling_rows=count, samples=tuple(sample(reference, key, row) for row in rows),
                   note=note)  # fmt: skip


def sample(reference: Reference, key: Sequence[str], row: Sequence[Any]) -> str:
    """One dangling row as ``Votes.Id 5 (PostId 123)``: its key, then the values that reference nothing."""
    named = ", ".join(f"{c} {v}" for c, v in zip(key, row, strict=False))
    values = ", ".join(f"{c} {v}" for c, v in zip(reference.columns, row[len(key) :], strict=False))
    return f"{reference.table.name}.{named} ({values})" if values else f"{reference.table.name}.{named}"


def _timed(outcome: Outcome, started: float) -> Outcome:
    return replace(outcome, seconds=round(time.monotonic() - started, 3))
