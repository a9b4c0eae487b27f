"""The DAG Params, validated once into one frozen settings object that flows into every task.

Choices are enums: a value is checked here, where it arrives, and nowhere else. The object
travels between tasks as a plain dict (``to_dict``) and comes back through ``from_params``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any

DEFAULT_SOURCE_CONN_ID = "stackoverflow_source"
DEFAULT_TARGET_CONN_ID = "stackoverflow_postgres_target"
DEFAULT_BUFFER_MB = 256
DEFAULT_SQLSERVER_TARGET_CONN_ID = "stackoverflow_target"  # replicate_stackoverflow_to_target's SQL Server
DEFAULT_SQLSERVER_BUFFER_MB = 128  # the SQL Server to SQL Server design's memory cap
# A few partitions per core for StackOverflow2010's large tables (Votes 6, Posts and Comments 2): on
# one 2-core machine each task costs seconds of scheduling and start-up, and 2,000,000 rows ran the
# bulk DAG in 91.0 s where 1,000,000 took 104.0 s and 500,000 took 124.1 s (bench, scale 1, one run each).
DEFAULT_PARTITION_ROWS = 2_000_000
MB = 1 << 20
APPLICATION_NAME = "stackoverflow-replication"  # how the engine names its sessions to both servers' DBAs


class NulPolicy(StrEnum):
    """What happens to U+0000 in source text, which PostgreSQL text cannot store (SQL Server's can)."""

    STRIP = "strip"  # removed, counted per column and reported
    FAIL = "fail"  # the copy fails naming table, column and row key
    KEEP = "keep"  # copied as it is: only a SQL Server target can store it


class VerifyMode(StrEnum):
    """How a copy is proven against its source."""

    CHECKSUMS = "checksums"  # per-row hashes compared by key range
    COUNTS = "counts"
    OFF = "off"


class LoadMode(StrEnum):
    """How rows reach the target table."""

    REPLACE = "replace"  # a staging table, swapped in
    APPEND = "append"  # added to the existing table
    SYNC = "sync"  # only the key ranges that differ from the source are re-copied into the existing table


class SnapshotMode(StrEnum):
    """Whether a table's copy and its source-side verification read one snapshot of the source."""

    AUTO = "auto"  # a snapshot where the source allows one; else differences are re-copied until they converge
    REQUIRE = "require"  # a source that cannot give one fails the run before any data moves
    OFF = "off"  # no snapshot: rows that change during the copy are re-copied until the copy converges


class ReadMode(StrEnum):
    """How a PostgreSQL source is read (SQL Server sources always fetch rows)."""

    COPY = "copy"  # COPY (SELECT ...) TO STDOUT: the server writes the COPY text
    ROWS = "rows"  # fetched rows through the shared encoder: the SQL Server path's


class ForeignKeyMode(StrEnum):
    """Which foreign keys the run creates on the target once every table is loaded."""

    OFF = "off"  # none (foreign keys already on the target are dropped for the loads and put back)
    SOURCE = "source"  # the ones the source declares
    STACKOVERFLOW = "stackoverflow"  # those, plus the references StackOverflow's data has but does not declare


class SettingsError(ValueError):
    """A Param value the run cannot use; the message names the Param."""


@dataclass(frozen=True)
class ReplicationSettings:
    """Everything a run needs to know, from the DAG's Params (names are the Params' names)."""

    source_conn_id: str = DEFAULT_SOURCE_CONN_ID
    target_conn_id: str = DEFAULT_TARGET_CONN_ID
    source_schema: str | None = None  # None: the source engine's default (dbo / public)
    target_schema: str = "public"
    tables: tuple[str, ...] = ()  # empty: every table discovered in the source schema
    exclude_tables: tuple[str, ...] = ()
    buffer_mb: int = DEFAULT_BUFFER_MB
    nul_policy: NulPolicy = NulPolicy.STRIP
    verify: VerifyMode = VerifyMode.CHECKSUMS
    load_mode: LoadMode = LoadMode.REPLACE
    source_read_mode: ReadMode = ReadMode.COPY
    partition_rows: int = DEFAULT_PARTITION_ROWS
    staging_url: str = ""  # bulk DAG: where partitions are staged; empty: a folder under AIRFLOW_HOME
    source_snapshot: SnapshotMode = SnapshotMode.AUTO
    foreign_keys: ForeignKeyMode = ForeignKeyMode.OFF

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ReplicationSettings:
        """Validate the Params; every error names the Param and the allowed values."""
        known = {f.name for f in fields(cls)}  # other keys (Params of one DAG only) are ignored
        values = {k: v for k, v in params.items() if k in known}
        values.update(
            tables=_names(values.get("tables"), "tables"),
            exclude_tables=_names(values.get("exclude_tables"), "exclude_tables"),
            source_schema=values.get("source_schema") or None,
        )
        for name, kind in _CHOICES.items():
            if name in values:
                values[name] = _choice(name, values[name], kind)
        settings = cls(**values)
        settings._validate()
        return settings

    def _validate(self) -> None:
        for name in ("buffer_mb", "partition_rows"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SettingsError(f"{name} must be a positive integer, got {value!r}")
        for name in ("source_conn_id", "target_conn_id", "target_schema"):
            if not getattr(self, name):
                raise SettingsError(f"{name} must not be empty")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReplicationSettings:
        """The settings ``to_dict`` wrote (already validated, by ``from_params``, when the run began)."""
        values = dict(data)
        for name, kind in _CHOICES.items():
            if name in values:
                values[name] = kind(values[name])
        return cls(**{**values, "tables": tuple(values["tables"]), "exclude_tables": tuple(values["exclude_tables"])})

    @property
    def buffer_bytes(self) -> int:
        return self.buffer_mb * MB

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (enums as their strings, tuples as lists) for XCom."""
        return {k: _plain(v) for k, v in asdict(self).items()}


_CHOICES: dict[str, type[StrEnum]] = {
    "nul_policy": NulPolicy,
    "verify": VerifyMode,
    "load_mode": LoadMode,
    "source_read_mode": ReadMode,
    "source_snapshot": SnapshotMode,
    "foreign_keys": ForeignKeyMode,
}


def reject_unknown_params(given: Mapping[str, Any], *, declared: Iterable[str]) -> None:
    """A run's conf may only name the DAG's own Params: a typo would otherwise be ignored ("tabels" copies all)."""
    known = sorted(declared)
    unknown = sorted(set(given) - set(known))
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, known, n=1)
        hints.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    raise SettingsError(f"unknown Param {', '.join(hints)}; this DAG takes: {', '.join(known)}")


def _plain(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    return list(value) if isinstance(value, tuple) else value


def _choice(name: str, value: Any, kind: type[StrEnum]) -> StrEnum:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise SettingsError(f"{name} must be one of {allowed}; got {value!r}") from None


def _names(value: Any, param: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):  # "Users, Posts" from a UI text field
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise SettingsError(f"{param} must be a list of table names, got {value!r}")
