"""Dependency levels: which tables load together, and which must wait for others.

The nine StackOverflow tables have no foreign keys, so their order comes from a manifest
(lookups -> Users -> Badges, Posts -> Comments, Votes, PostLinks): the order in which their
references point. Any other table gets its level from the foreign keys the source declares
(one past the deepest table it references), else from the manifest, else the last level.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from include.replication.models import SourceTable

LEVEL_COUNT = 4
LAST_LEVEL = LEVEL_COUNT - 1
LEVEL_NAMES = ("lookups", "users", "posts_and_badges", "post_dependents")

STACKOVERFLOW_MANIFEST: Mapping[str, int] = {
    "VoteTypes": 0,
    "PostTypes": 0,
    "LinkTypes": 0,
    "Users": 1,
    "Badges": 2,
    "Posts": 2,
    "Comments": 3,
    "Votes": 3,
    "PostLinks": 3,
    # the larger StackOverflow databases' extra tables, where their references point
    "PostHistoryTypes": 0,
    "Tags": 3,
    "PostHistory": 3,
}


def assign_levels(
    tables: Iterable[SourceTable], manifest: Mapping[str, int] = STACKOVERFLOW_MANIFEST
) -> dict[str, int]:
    """Return ``{table name: level}`` for ``tables``, levels in ``0..LAST_LEVEL``."""
    by_name = {t.name: t for t in tables}
    levels: dict[str, int] = {}

    def level_of(name: str, visiting: frozenset[str]) -> int:
        if name in levels:
            return levels[name]
        table = by_name[name]
        references = {
            fk.referenced_table
            for fk in table.foreign_keys
            if fk.referenced_table in by_name and fk.referenced_table != name and fk.referenced_table not in visiting
        }
        if references:  # a cycle (mutual references) is broken where it closes
            level = min(LAST_LEVEL, 1 + max(level_of(r, visiting | {name}) for r in references))
        else:
            level = manifest.get(name, LAST_LEVEL)
        levels[name] = level
        return level

    for name in by_name:
        level_of(name, frozenset())
    return levels


# The nine StackOverflow2010 tables, by level: the DAGs give each its own task in its level's
# TaskGroup; any other table is discovered at run time and mapped into its level's group.
STATIC_TABLES: tuple[tuple[str, ...], ...] = (
    ("VoteTypes", "PostTypes", "LinkTypes"),
    ("Users",),
    ("Badges", "Posts"),
    ("Comments", "Votes", "PostLinks"),
)
