"""Where the bulk DAG may stage partitions, given the executor that runs its tasks.

A partition is extracted by one task and loaded by another. LocalExecutor runs both on one
machine, so a local folder serves; Celery, Kubernetes, Edge and the cloud executors may run them
on different machines, where a folder written by the first is not there for the second. The
load would then fail on every retry with "file not found", long after the run began; this check
fails the first task instead, saying why and what to use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from include.replication.settings import SettingsError

# Executors that run every task on the scheduler's machine; any other (CeleryExecutor,
# KubernetesExecutor, EdgeExecutor, the AWS/GCP ones, a custom one) may spread a run's tasks.
SINGLE_MACHINE_EXECUTORS = frozenset({"LocalExecutor", "SequentialExecutor", "DebugExecutor"})
# URL schemes whose files live on the machine (or in the process) that wrote them.
LOCAL_SCHEMES = frozenset({"", "file", "local", "memory"})
SHARED_EXAMPLES = "s3://bucket/prefix, gs://bucket/prefix or abfs://container/prefix"


def executor_class(configured: str, task_executor: str | None = None) -> str:
    """The class name of the executor that runs a task: its own ``executor``, else the default one.

    ``configured`` is ``[core] executor``: a comma-separated list whose first entry is the default;
    an entry is a class name, a module path, or ``alias:module.path.Class``.
    """
    entries = [entry.strip() for entry in configured.split(",") if entry.strip()]
    chosen = entries[0] if entries else "LocalExecutor"
    if task_executor:
        named = [entry for entry in entries if task_executor in (entry, *entry.split(":"), _class_name(entry))]
        chosen = named[0] if named else task_executor
    return _class_name(chosen)


def _class_name(entry: str) -> str:
    return entry.split(":")[-1].rsplit(".", 1)[-1]


def unshared_staging(staging_url: str, executor: str) -> str | None:
    """Why ``staging_url`` cannot serve a run under ``executor`` (a class name), or None if it can."""
    if executor in SINGLE_MACHINE_EXECUTORS:
        return None
    scheme = urlsplit(staging_url).scheme.lower()
    if scheme not in LOCAL_SCHEMES and not _drive_letter(staging_url):
        return None
    where = f"staging_url {staging_url!r}" if staging_url else "the default staging_url (a folder under $AIRFLOW_HOME)"
    return (
        f"{where} is on one machine's disk, but {executor} may extract a partition on one worker and load "
        f"it on another, which cannot read it; set staging_url to storage every worker reaches, "
        f"e.g. {SHARED_EXAMPLES}"
    )


def _drive_letter(url: str) -> bool:
    """``C:\\staging`` parses with scheme ``c``: a Windows path, not a URL."""
    return len(url) > 2 and url[0].isalpha() and url[1] == ":" and url[2] in "\\/"


def refuse_unshared_staging(params: Mapping[str, Any], *, task_executor: str | None = None) -> None:
    """Raise SettingsError (no retry) when a DAG that stages has a staging_url its workers cannot share.

    DAGs without a ``staging_url`` Param (the streaming DAG) stage nothing and always pass.
    """
    if "staging_url" not in params:
        return
    from airflow.sdk import conf  # the configuration where the task runs (airflow.cfg, AIRFLOW__*)

    executor = executor_class(conf.get("core", "executor", fallback="LocalExecutor"), task_executor)
    reason = unshared_staging(params["staging_url"] or "", executor)
    if reason:
        raise SettingsError(reason)
