"""Limits that keep a stuck run from hanging or trampling: task timeouts scaled to the data, and the pools.

Every task gets an ``execution_timeout``. A task that copies, loads or verifies table data gets
one scaled to the rows the plan expects it to move (the catalog's estimate), set just before it
runs by ``scale_timeout`` - the task's ``pre_execute`` hook, which Airflow's task runner calls
before it starts the timeout clock - because the estimate is known only once ``discover_tables``
has read the source. Any other task keeps the fixed default.

Pools are fixed when the DAG is parsed, so their names come from the environment, not Params.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

log = logging.getLogger(__name__)

# Caps concurrent sessions reading the source (production, usually): streaming table tasks, bulk
# extracts and verifications each hold one. A task takes one pool only; a streaming table task also
# holds one target session, so this pool bounds those too.
SOURCE_POOL = os.environ.get("STACKOVERFLOW_SOURCE_POOL", "source_read_sessions")

TIMEOUT_MINUTES_ENV = "STACKOVERFLOW_TASK_TIMEOUT_MINUTES"
FLOOR_RATE_ENV = "STACKOVERFLOW_TIMEOUT_ROWS_PER_SECOND"
# Tasks that move no table data (planning, summary): catalog reads and a few statements.
DEFAULT_TIMEOUT = timedelta(minutes=float(os.environ.get(TIMEOUT_MINUTES_ENV, "60")))
# A table task's budget: a fixed part (connections, key and index builds on small tables, the swap)
# plus its rows at a rate far below any measured: the slowest table measured, Posts with 4.3 GB of
# text, copied, indexed and verified at 28,174 rows/s (TESTING_RESULTS.md, scale 1.0). 1,000 rows/s
# leaves a slower network or server 28 times the room before a run is called stuck.
BASE_BUDGET = timedelta(minutes=15)
FLOOR_ROWS_PER_SECOND = float(os.environ.get(FLOOR_RATE_ENV, "1000"))
# A table whose catalog has no estimate (a PostgreSQL table never analysed reports 0): a day.
UNKNOWN_SIZE_BUDGET = timedelta(hours=24)


def table_timeout(rows: int) -> timedelta:
    """How long a task moving ``rows`` rows (the catalog's estimate; 0: unknown) may run before it is stuck."""
    if rows <= 0:
        return UNKNOWN_SIZE_BUDGET
    return BASE_BUDGET + timedelta(seconds=rows / FLOOR_ROWS_PER_SECOND)


def estimated_rows(kwargs: Mapping[str, Any]) -> tuple[str, int] | None:
    """What a table task's arguments say it will move: (its name, estimated rows), or None for other tasks."""
    if isinstance(partition := kwargs.get("partition"), Mapping):  # bulk extract: the planner's estimate
        return f"{partition['table']}[{partition['index'] + 1}/{partition['count']}]", partition["estimated_rows"]
    if isinstance(extracted := kwargs.get("extracted"), Mapping):  # bulk load: the rows actually staged
        part = extracted["partition"]
        return f"{part['table']}[{part['index'] + 1}/{part['count']}]", extracted["rows"]
    table, plan = kwargs.get("table_name"), kwargs.get("plan")
    if isinstance(table, str) and isinstance(plan, Mapping):  # a whole table: copy or verify-and-swap
        found = next((t for t in plan["tables"] if t["name"] == table), None)
        return (table, found["approx_rows"]) if found else None
    return None


def scale_timeout(context: Mapping[str, Any]) -> None:
    """``pre_execute`` hook: set the running task's ``execution_timeout`` from the rows it will move."""
    task = context["task"]
    found = estimated_rows(arguments(task))
    if found is None:
        return
    name, rows = found
    task.execution_timeout = table_timeout(rows)
    log.info(
        "%s: execution_timeout %s for ~%s rows (%s + rows at %s rows/s; %s when the catalog has no estimate)",
        name, task.execution_timeout, f"{rows:,}", BASE_BUDGET, f"{FLOOR_ROWS_PER_SECOND:,.0f}", UNKNOWN_SIZE_BUDGET,
    )  # fmt: skip


def arguments(task: Any) -> dict[str, Any]:
    """A ``@task``'s arguments by name, however the DAG passed them (positionally, by keyword, mapped)."""
    args, kwargs = tuple(getattr(task, "op_args", None) or ()), dict(getattr(task, "op_kwargs", None) or {})
    function = getattr(task, "python_callable", None)
    if function is None or not args:
        return kwargs
    try:
        return dict(inspect.signature(function).bind_partial(*args, **kwargs).arguments)
    except TypeError:  # not this function's arguments: leave the timeout as it is
        return kwargs
