"""Lineage: each table task names its source table as input and its target table as output.

Tables are named by Airflow's asset URIs, ``postgres://host:port/database/schema/table`` and
``mssql://host:port/database/schema/table``; the postgres and mssql providers turn them into
OpenLineage datasets (namespace ``postgres://host:port``, name ``database.schema.table``).
They are reported to Airflow's hook lineage collector, which the OpenLineage provider reads when
the task ends: a ``@task`` has no extractor, and the collector is how the provider takes lineage
from code it cannot parse. Without the provider, or with it disabled, the collector is a no-op.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote as quote_url

from include.replication.airflow.connections import get_connection
from include.replication.models import TableName
from include.replication.plan import ReplicationPlan

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"postgres": 5432, "mssql": 1433}


def table_uri(conn: Any, engine: str, table: TableName, *, literal_names: bool = False) -> str:
    """The asset URI of ``table`` in the database of Airflow connection ``conn`` (``engine``: postgres or mssql).

    A connection without host or port gets the drivers' defaults (localhost, the engine's port).
    Names are percent-encoded, as a URI needs. ``literal_names`` encodes only what would split
    the path (``% / ? #``): the providers' converters do not decode, and OpenLineage names a
    table ``Post History``, not ``Post%20History``, so other producers' events meet ours.
    """
    encode = _path_breakers if literal_names else _reserved
    path = "/".join(encode(part) for part in (conn.schema or "", table.schema, table.name))
    host = conn.host or "localhost"  # what the drivers connect to when the connection names no host
    return f"{engine}://{host}:{conn.port or DEFAULT_PORTS[engine]}/{path}"


def _reserved(part: str) -> str:
    return quote_url(part, safe="")


def _path_breakers(part: str) -> str:
    return re.sub(r"[%/?#]", lambda found: quote_url(found.group(), safe=""), part)


def source_and_target_uris(run: ReplicationPlan, table: str) -> tuple[str, str]:
    """The lineage URIs of one planned table: where it is read from, where it is written to."""
    job = run.job(table)
    settings = run.settings
    return (
        table_uri(get_connection(settings.source_conn_id), run.source_engine, job.table, literal_names=True),
        table_uri(get_connection(settings.target_conn_id), run.target_engine, job.target, literal_names=True),
    )


def report_lineage(run: ReplicationPlan, table: str) -> None:
    """Report the table's source as the running task's input and its target as its output.

    Called before the copy, so a failed task's event names the tables too. Lineage is never
    worth a failed copy: any error here is logged and the task goes on.
    """
    try:
        from airflow.sdk.lineage import get_hook_lineage_collector

        source, target = source_and_target_uris(run, table)
        collector = get_hook_lineage_collector()
        # The context says who reported an asset (a hook, usually); here the task's own plan.
        collector.add_input_asset(context=run, uri=source)
        collector.add_output_asset(context=run, uri=target)
    except Exception:
        log.warning("%s: lineage not reported (the copy goes on)", table, exc_info=True)
