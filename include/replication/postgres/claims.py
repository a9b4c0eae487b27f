"""One writer per target table at a time: a transaction-scoped advisory lock keyed by the table's name.

Two runs on one target - the streaming and the bulk DAG, two deployments, a manual re-run beside a
scheduled one - must not write the same live table at once: one would swap its copy in while the
other loads or appends, and a replace and an append together would lose or duplicate rows. Each
transaction that writes a live table (a streaming load, the bulk DAG's verify-and-swap) first claims
it; another run's claim waits, saying every ``SAY_EVERY_S`` which session holds it, until that one
commits or rolls back. The lock is the server's: a killed holder releases it when its session ends.
Staging tables need no lock: the DAGs never share their names (``ddl.staging_table``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from pg8000.native import Connection

from include.replication.models import TableName
from include.replication.postgres.dialect import qualified
from include.replication.settings import APPLICATION_NAME

log = logging.getLogger(__name__)

HOLDERS_SQL = (Path(__file__).parent / "sql" / "table_claim_holders.sql").read_text()
NAMESPACE = APPLICATION_NAME  # the first key: keeps this project's locks apart from other applications'
POLL_S = 0.5  # a try-lock loop, not a blocking lock, so the wait can be reported while it lasts
SAY_EVERY_S = 10


def claim_table(conn: Connection, table: TableName) -> float:
    """Hold ``table`` for this run until the current transaction ends, waiting for another holder; return seconds waited."""
    name = qualified(table)
    started = time.monotonic()
    said_at, said_pids = 0.0, None
    while not conn.run("SELECT pg_try_advisory_xact_lock(hashtext(:ns), hashtext(:name))", ns=NAMESPACE, name=name)[0][
        0
    ]:
        now = time.monotonic()
        rows = holders(conn, name)
        pids = {row[0] for row in rows}
        if pids != said_pids or now - said_at >= SAY_EVERY_S:  # a new holder, or a while since the last line
            said_at, said_pids = now, pids
            log.warning("%s: another run is writing this table on the target (%s); waiting for it to finish, %.0f s so far",
                        table.qualified, describe(rows), now - started)  # fmt: skip
        time.sleep(POLL_S)
    waited = time.monotonic() - started
    if said_pids is not None:
        log.info(
            "%s: the other run has finished; this run writes the table now (waited %.0f s)", table.qualified, waited
        )
    return waited


def holders(conn: Connection, name: str) -> list[tuple[int, str, str, str]]:
    """The sessions holding the claim on ``name``: pid, application, since when (UTC), what each runs."""
    return [tuple(row) for row in conn.run(HOLDERS_SQL, namespace=NAMESPACE, name=name)]


def describe(rows: list[tuple[int, str, str, str]]) -> str:
    """Holders for a log line (none: the holder ended between the two queries)."""
    if not rows:
        return "held a moment ago"
    return "; ".join(
        f"session pid {pid} of {application or 'an unnamed application'}, in a transaction since {since} UTC, "
        f"running: {query}"
        for pid, application, since, query in rows
    )
