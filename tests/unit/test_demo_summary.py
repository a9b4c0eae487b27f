"""``make demo`` prints the run summary the DAG's summarize task logged, without the log's decorations."""

from __future__ import annotations

from localdev.demo import run_summary

LOG = """\
2026-11-29T15:11:02.370000Z [info     ] Verification:
table   source rows
public.Users  299 [include.replication.airflow.tasks] loc=tasks.py:190
2026-11-29T15:11:02.377811Z [info     ] Run summary:
table                               rows        MB   seconds
public.Users                         299       0.1       0.0
total (1 tables)                     299       0.1       0.0 [include.replication.airflow.tasks] loc=tasks.py:191
2026-11-29T15:11:02.380000Z [info     ] Task instance in success state [task] loc=task_runner.py:1
"""


def test_the_summary_table_is_cut_from_the_log():
    assert run_summary(LOG) == (
        "table                               rows        MB   seconds\n"
        "public.Users                         299       0.1       0.0\n"
        "total (1 tables)                     299       0.1       0.0"
    )


def test_a_log_without_a_summary_gives_none():
    assert run_summary("2026-11-29T15:11:02Z [info     ] nothing here [x] loc=a.py:1\n") is None
