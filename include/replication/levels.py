"""Dependency levels: the four groups the DAGs show tables in, and the order in which tables start.

The levels follow the references (lookups -> Users -> Badges, Posts -> Comments, Votes, PostLinks):
the nine StackOverflow tables declare no foreign keys, so theirs come from a manifest; any other
table gets its level from the foreign keys the source declares (one past the deepest table it
references), else from the manifest, else the last level. They group tasks for the reader; they
do not order the loads: no foreign key is in force while tables load (``foreign_keys.py``, ADR
0011), so every table may start at once, the largest first (``LOAD_PRIORITY``).
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


# A table task's priority_weight: when the pool or the executor has fewer slots than tables, the
# scheduler starts the heaviest waiting task first, so the longest copy (Posts: 4.3 GB of text at
# StackOverflow2010's size, then Votes' 10M rows) starts at once and the small ones fill the gaps.
# The order is the tables' measured copy times at scale 1 (docs/bench/results-scale-1.json).
LOAD_PRIORITY: Mapping[str, int] = {
    "Posts": 90,
    "Votes": 80,
    "Comments": 70,
    "Badges": 60,
    "Users": 50,
    "PostLinks": 40,
    "VoteTypes": 10,
    "PostTypes": 10,
    "LinkTypes": 10,
}
# The tables beyond the nine (one mapped task per level): their size is unknown when the DAG is
# parsed. They start right after Posts: a small one is done in seconds wherever it runs, a large
# one (PostHistory in the larger StackOverflow databases outweighs Posts) started last would end
# the run last. Listing them (a catalog-free task per level) comes after the four largest tables
# have their slots: ahead of them, the four listings held every slot of a 2-core machine's four,
# and a finished task's slot can take seconds to free, so Posts started 4.5 s later (bench, scale 1).
OTHER_TABLES_PRIORITY = 85
LIST_OTHER_TABLES_PRIORITY = 55
# The bulk DAG's partitions: an extracted partition is loaded before the next is extracted, so
# loads overlap extracts and few staged files wait at a time. By the default (downstream) rule an
# extract outweighs its own load, and every partition was extracted before the first load began.
EXTRACT_PRIORITY = 1
LOAD_PARTITION_PRIORITY = 2
