"""Dependency levels from foreign keys and the manifest; Params validated into settings."""

from __future__ import annotations

import json

import pytest

from include.replication.levels import LAST_LEVEL, STACKOVERFLOW_MANIFEST, STATIC_TABLES, assign_levels
from include.replication.models import ForeignKey, SourceColumn, SourceTable
from include.replication.settings import ReplicationSettings, SettingsError, VerifyMode, reject_unknown_params


def table(name: str, *references: str) -> SourceTable:
    fks = tuple(ForeignKey(f"fk_{name}_{r}", ("x",), "public", r, ("Id",)) for r in references)
    return SourceTable("public", name, (SourceColumn("Id", "integer", False),), ("Id",), fks)


def test_nine_tables_follow_the_manifest():
    """Without foreign keys the nine StackOverflow tables land in their four documented levels."""
    levels = assign_levels([table(n) for group in STATIC_TABLES for n in group])
    for level, names in enumerate(STATIC_TABLES):
        assert {n for n in names if levels[n] == level} == set(names)


def test_foreign_keys_decide_where_declared():
    """A table one past the deepest table it references; unknown tables without FKs go last."""
    levels = assign_levels([table("VoteTypes"), table("Users"), table("Audit", "Users"), table("Loose")])
    assert levels["Audit"] == STACKOVERFLOW_MANIFEST["Users"] + 1
    assert levels["Loose"] == LAST_LEVEL


def test_reference_cycles_and_self_references_terminate():
    """Mutual and self references do not loop forever; levels stay within range."""
    levels = assign_levels([table("A", "B", "A"), table("B", "A")])
    assert set(levels) == {"A", "B"} and all(0 <= v <= LAST_LEVEL for v in levels.values())


def test_settings_defaults_and_list_parsing():
    """Defaults match the Params; a comma-separated string of tables is accepted from UI forms."""
    settings = ReplicationSettings.from_params({"tables": "Users, Posts", "source_schema": ""})
    assert settings.tables == ("Users", "Posts")
    assert settings.source_schema is None
    assert (settings.buffer_mb, settings.nul_policy, settings.verify, settings.load_mode) == (
        256,
        "strip",
        "checksums",
        "replace",
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"nul_policy": "drop"}, "nul_policy must be one of strip, fail"),
        ({"verify": "maybe"}, "verify must be one of"),
        ({"load_mode": "merge"}, "load_mode must be one of"),
        ({"buffer_mb": 0}, "buffer_mb must be a positive integer"),
        ({"tables": [1, 2]}, "tables must be a list of table names"),
        ({"target_schema": ""}, "target_schema must not be empty"),
    ],
)
def test_bad_params_name_the_param(params, message):
    """Every invalid Param fails with a message naming it and what is allowed."""
    with pytest.raises(SettingsError, match=message):
        ReplicationSettings.from_params(params)


def test_settings_round_trip_through_xcom_dict():
    """Settings survive to_dict -> from_params (how they travel between tasks)."""
    settings = ReplicationSettings.from_params({"tables": ["Users"], "buffer_mb": 8, "verify": "counts"})
    assert ReplicationSettings.from_params(settings.to_dict()) == settings
    assert ReplicationSettings.from_dict(settings.to_dict()) == settings
    assert settings.verify is VerifyMode.COUNTS and settings.to_dict()["verify"] == "counts"
    assert json.loads(json.dumps(settings.to_dict())) == settings.to_dict()


def test_unknown_params_are_named_with_the_closest_known_one():
    """A typo in --conf must not be ignored: "tabels" would copy every table."""
    declared = ["tables", "exclude_tables", "verify", "buffer_mb"]
    reject_unknown_params({"tables": ["Users"], "verify": "counts"}, declared=declared)  # known keys pass
    with pytest.raises(
        SettingsError, match=r"unknown Param 'tabels' \(did you mean 'tables'\?\), 'zzz'; this DAG takes"
    ):
        reject_unknown_params({"tabels": ["Users"], "zzz": 1}, declared=declared)
