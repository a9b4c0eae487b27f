"""Both PostgreSQL DAGs while a writer inserts, updates and deletes on the source throughout the run.

The run succeeds; each table equals the source as of the snapshot its report names, checked
independently: the writer logs every transaction's id and what it wrote, and the test rebuilds
the source as of that snapshot (the rows before the writer started, plus the writes the snapshot
sees) and compares it row for row with the target. A ``sync`` run afterwards makes target and
source equal again, re-copying no more keys than the writer touched.
"""

from __future__ import annotations

import random
import threading
import time

import pytest

from include.stackoverflow.database import connect
from include.stackoverflow.generate import generate
from tests.integration.replication_helpers import assert_exact_copy, run_dag, task_states

STREAMING = "replicate_stackoverflow_to_postgres_parallel"
BULK = "replicate_stackoverflow_to_postgres_bulk_parallel"
TABLES = ("Votes", "Users")


class Writer(threading.Thread):
    """Small committed transactions on ``TABLES`` until stopped; ``log``: (xid, table, key, row or None)."""

    def __init__(self, url: str, seed: int) -> None:
        super().__init__(daemon=True)
        self.url, self.random = url, random.Random(seed)
        self.log: list[tuple[int, str, int, tuple | None]] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            conn = connect(self.url)
            keys = {t: [k for (k,) in conn.run(f'SELECT "Id" FROM "{t}" ORDER BY 1')] for t in TABLES}
            others = {
                t: ", ".join(f'"{c}"' for (c,) in conn.run(
                    "SELECT attname FROM pg_attribute WHERE attrelid = :t::regclass AND attnum > 1 "
                    "AND NOT attisdropped ORDER BY attnum", t=f'"{t}"'))
                for t in TABLES
            }  # fmt: skip
            while not self.stop.is_set():
                table = self.random.choice(TABLES)
                conn.run("BEGIN")
                xid = int(conn.run("SELECT pg_current_xact_id()::text")[0][0])
                what = self.random.random()
                if what < 0.4:  # insert past the end
                    key = max(keys[table]) + 1
                    conn.run(f'INSERT INTO "{table}" OVERRIDING SYSTEM VALUE SELECT CAST(:n AS integer), '
                             f'{others[table]} FROM "{table}" WHERE "Id" = :k', n=key, k=keys[table][0])  # fmt: skip
                    keys[table].append(key)
                elif what < 0.8:  # update anywhere
                    key = self.random.choice(keys[table])
                    column = "BountyAmount" if table == "Votes" else "Reputation"
                    conn.run(
                        f'UPDATE "{table}" SET "{column}" = :v WHERE "Id" = :k', v=self.random.randint(1, 999), k=key
                    )
                else:  # delete anywhere
                    key = keys[table].pop(self.random.randrange(1, len(keys[table])))
                    conn.run(f'DELETE FROM "{table}" WHERE "Id" = :k', k=key)
                rows = conn.run(f'SELECT * FROM "{table}" WHERE "Id" = :k', k=key)
                conn.run("COMMIT")
                self.log.append((xid, table, key, tuple(rows[0]) if rows else None))
                time.sleep(0.02)
            conn.close()
        except BaseException as error:  # reported by the test
            self.error = error


def rows_of(url: str, table: str) -> dict[int, tuple]:
    conn = connect(url)
    try:
        return {row[0]: tuple(row) for row in conn.run(f'SELECT * FROM "{table}"')}
    finally:
        conn.close()


def visible(xid: int, snapshot: str) -> bool:
    """Whether a committed transaction ``xid`` is seen by a ``pg_current_snapshot()`` text ``xmin:xmax:xip,...``."""
    xmin, xmax, xip = snapshot.split(":")
    return xid < int(xmin) or (xid < int(xmax) and str(xid) not in xip.split(","))


def as_of(initial: dict[int, tuple], writes: list, table: str, snapshot: str) -> dict[int, tuple]:
    """The table as the snapshot sees it: the initial rows plus the writes it sees, in commit order."""
    rows = dict(initial)
    for xid, written, key, row in writes:
        if written == table and visible(xid, snapshot):
            if row is None:
                rows.pop(key, None)
            else:
                rows[key] = row
    return rows


def summary_stats(run) -> dict[str, dict]:
    summary = run.get_task_instance("summarize").xcom_pull(task_ids="summarize")
    return {t["stats"]["table"].split(".", 1)[1]: t["stats"] for t in summary["tables"]}


@pytest.mark.parametrize("dag_id", [STREAMING, BULK], ids=["streaming", "bulk"])
def test_writes_throughout_a_run_then_sync(airflow_db, fresh_database, target_database, dag_id, tmp_path):
    """The run succeeds under writes; each table is the source as of its reported snapshot; sync then makes them equal."""
    generate(fresh_database, scale=0.002, seed=41)
    initial = {t: rows_of(fresh_database, t) for t in TABLES}
    conf = {"partition_rows": 2_000, "staging_url": tmp_path.as_uri()} if dag_id == BULK else {}
    writer = Writer(fresh_database, seed=7)
    writer.start()
    try:
        run = run_dag(dag_id, fresh_database, target_database, **conf)
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.error is None, writer.error
    assert str(run.state) == "success", task_states(run)
    stats = summary_stats(run)
    for table in TABLES:
        snapshot = stats[table]["snapshot"]
        assert snapshot.startswith("PostgreSQL snapshot "), snapshot
        expected = as_of(initial[table], writer.log, table, snapshot.split()[2])
        assert rows_of(target_database, table) == expected, table
    written_during = len(writer.log)
    assert written_during > 10  # the run really was under writes

    sync = run_dag(STREAMING, fresh_database, target_database, load_mode="sync")
    assert str(sync.state) == "success", task_states(sync)
    assert_exact_copy(fresh_database, target_database)
    synced = summary_stats(sync)
    touched = {t: len({key for _, table, key, _ in writer.log if table == t}) for t in TABLES}
    for table in TABLES:
        assert synced[table]["recopied_keys"] <= touched[table], table
    assert sum(s["recopied_keys"] for s in synced.values()) > 0  # writes after the snapshots were caught
