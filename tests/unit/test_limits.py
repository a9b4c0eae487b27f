"""Task timeouts scale with the rows a task moves; which task moves how many comes from its arguments."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from include.replication.airflow import limits

PLAN = {"tables": [{"name": "Posts", "approx_rows": 3_600_000}, {"name": "Fresh", "approx_rows": 0}]}
PARTITION = {"table": "Posts", "index": 2, "count": 8, "estimated_rows": 450_000}


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(0, timedelta(hours=24), id="no-estimate-a-day"),
        pytest.param(15, timedelta(minutes=15, seconds=0.015), id="lookup-table-the-base"),
        pytest.param(3_600_000, timedelta(minutes=15, hours=1), id="posts-at-scale-1-an-hour-more"),
    ],
)
def test_table_timeout(rows, expected):
    assert limits.table_timeout(rows) == expected


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({"table_name": "Posts", "plan": PLAN}, ("Posts", 3_600_000), id="streaming-or-finish"),
        pytest.param({"table_name": "Fresh", "plan": PLAN}, ("Fresh", 0), id="never-analysed"),
        pytest.param({"partition": PARTITION, "plan": PLAN}, ("Posts[3/8]", 450_000), id="bulk-extract"),
        pytest.param(
            {"extracted": {"partition": PARTITION, "rows": 449_990}, "plan": PLAN},
            ("Posts[3/8]", 449_990),
            id="bulk-load-staged-rows",
        ),  # fmt: skip
        pytest.param({"plan": PLAN}, None, id="planning-task"),
        pytest.param({"tables": [{"stats": {}}]}, None, id="summary"),
    ],
)
def test_estimated_rows(kwargs, expected):
    assert limits.estimated_rows(kwargs) == expected


def test_scale_timeout_sets_the_running_tasks_timeout_and_leaves_others():
    table_task = SimpleNamespace(
        op_kwargs={"table_name": "Posts", "plan": PLAN}, execution_timeout=limits.DEFAULT_TIMEOUT
    )
    limits.scale_timeout({"task": table_task})
    assert table_task.execution_timeout == timedelta(hours=1, minutes=15)
    planning = SimpleNamespace(op_kwargs={}, execution_timeout=limits.DEFAULT_TIMEOUT)
    limits.scale_timeout({"task": planning})
    assert planning.execution_timeout == limits.DEFAULT_TIMEOUT


def test_positional_arguments_count_too():
    """The bulk DAG passes ``extract_partition(partition, plan)`` positionally: op_args, not op_kwargs."""

    def extract_partition(partition, plan):
        return None

    task = SimpleNamespace(op_args=[PARTITION, PLAN], op_kwargs={}, python_callable=extract_partition,
                           execution_timeout=limits.DEFAULT_TIMEOUT)  # fmt: skip
    limits.scale_timeout({"task": task})
    assert task.execution_timeout == limits.table_timeout(450_000)
