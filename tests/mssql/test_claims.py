"""Two runs on one SQL Server target never write a table at once: the second claim waits for the first transaction."""

from __future__ import annotations

import threading

from include.replication.models import TableName
from include.replication.mssql.target import SqlServerTarget
from tests.mssql.mssql_helpers import MssqlServer

USERS = TableName("dbo", "Users")


def test_a_second_claim_waits_for_the_first_transaction(mssql_server: MssqlServer, mssql_scratch: str):
    holder, waiter = (
        SqlServerTarget(mssql_server.connect(mssql_scratch)),
        SqlServerTarget(mssql_server.connect(mssql_scratch)),
    )
    acquired = threading.Event()

    def second_run() -> None:
        with waiter.transaction():
            waiter.claim(USERS)
            acquired.set()

    try:
        with holder.transaction():
            holder.claim(USERS)
            thread = threading.Thread(target=second_run)
            thread.start()
            assert not acquired.wait(1.5), "the second claim did not wait for the first"
        assert acquired.wait(10), "the second claim did not follow the first one's commit"
        thread.join(10)
    finally:
        holder.close()
        waiter.close()
