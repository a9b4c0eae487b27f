"""The DAG Params, validated once into one frozen settings object that flows into every task."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from include.replication.copy.encoder import NUL_POLICIES
from include.replication.load import LOAD_MODES, LoadSettings
from include.replication.verify import VERIFY_MODES

DEFAULT_SOURCE_CONN_ID = "stackoverflow_source"
DEFAULT_TARGET_CONN_ID = "stackoverflow_postgres_target"
DEFAULT_BUFFER_MB = 256
DEFAULT_PARTITION_ROWS = 500_000


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
    nul_policy: str = "strip"
    verify: str = "checksums"
    load_mode: str = "replace"
    source_read_mode: str = "copy"  # PostgreSQL sources only: 'copy' or 'rows' (the SQL Server path's encoder)
    partition_rows: int = DEFAULT_PARTITION_ROWS
    staging_url: str = ""  # bulk DAG: where partitions are staged; empty: a folder under AIRFLOW_HOME

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ReplicationSettings:
        """Validate the Params; every error names the Param and the allowed values."""
        known = set(cls.__dataclass_fields__)  # other keys (Params of one DAG only) are ignored
        values = {k: v for k, v in params.items() if k in known}
        settings = cls(
            **{
                **values,
                "tables": _names(values.get("tables"), "tables"),
                "exclude_tables": _names(values.get("exclude_tables"), "exclude_tables"),
                "source_schema": values.get("source_schema") or None,
            }
        )
        settings._validate()
        return settings

    def _validate(self) -> None:
        _choice("nul_policy", self.nul_policy, NUL_POLICIES)
        _choice("verify", self.verify, VERIFY_MODES)
        _choice("load_mode", self.load_mode, LOAD_MODES)
        _choice("source_read_mode", self.source_read_mode, ("copy", "rows"))
        if not isinstance(self.buffer_mb, int) or self.buffer_mb < 1:
            raise SettingsError(f"buffer_mb must be a positive integer (MB), got {self.buffer_mb!r}")
        if not isinstance(self.partition_rows, int) or self.partition_rows < 1:
            raise SettingsError(f"partition_rows must be a positive integer, got {self.partition_rows!r}")
        for name in ("source_conn_id", "target_conn_id", "target_schema"):
            if not getattr(self, name):
                raise SettingsError(f"{name} must not be empty")

    def load_settings(self) -> LoadSettings:
        return LoadSettings(
            target_schema=self.target_schema,
            buffer_mb=self.buffer_mb,
            nul_policy=self.nul_policy,
            verify=self.verify,
            load_mode=self.load_mode,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _names(value: Any, param: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):  # "Users, Posts" from a UI text field
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise SettingsError(f"{param} must be a list of table names, got {value!r}")
