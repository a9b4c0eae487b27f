"""IDENTITY columns copied from a real SQL Server: the target identity is aligned past max(Id).

Runs only with a real SQL Server (``REPLICATION_TEST_MSSQL_URL``, see README.md here); skipped otherwise.

The rule (``postgres.ddl.align_identity_sql``, run by the target's swap): the
target's next identity value is max(Id) + 1, or 1 when no Id is positive. The source's own
current identity value (``IDENT_CURRENT``, which deletes leave above max(Id)) is not carried over.
"""

from __future__ import annotations

from typing import Any

import pytest

from include.replication.models import TableName
from include.replication.mssql.dialect import qualified
from tests.integration.replication_helpers import identity_state, key_and_identity
from tests.mssql.mssql_helpers import copy_table, execute, query, source_table, unique_name


@pytest.mark.parametrize(
    ("id_type", "seed", "inserted", "deleted", "expected_next"),
    [
        pytest.param("int", 1000, 5, "[Id] >= 1003", 1003, id="current-beyond-max-after-deletes"),
        pytest.param("int", 1, 3, "1 = 1", 1, id="emptied-table"),
        pytest.param("int", -10, 3, "1 = 0", 1, id="only-negative-ids"),
        pytest.param("bigint", 3_000_000_000, 4, "[Id] = 3000000003", 3_000_000_003, id="bigint-beyond-int32"),
    ],
)
def test_identity_next_value_follows_max_id(
    mssql_conn: Any, fresh_database: str, id_type: str, seed: int, inserted: int, deleted: str, expected_next: int
):
    """The target's Id is GENERATED ALWAYS, holds the source's ids, and its next value follows the documented rule."""
    name = unique_name("identity")
    table_sql = qualified(TableName("dbo", name))
    execute(
        mssql_conn,
        f"CREATE TABLE {table_sql} ([Id] {id_type} IDENTITY({seed}, 1) NOT NULL PRIMARY KEY, [Name] nvarchar(20) NOT NULL)",
    )
    execute(
        mssql_conn, f"INSERT INTO {table_sql} ([Name]) VALUES " + ", ".join(f"(N'row {i}')" for i in range(inserted))
    )
    execute(mssql_conn, f"DELETE FROM {table_sql} WHERE {deleted}")
    max_id, current = query(mssql_conn, f"SELECT MAX([Id]), IDENT_CURRENT(N'dbo.{name}') FROM {table_sql}")[0]
    assert current == seed + inserted - 1  # the source's identity stays where the inserts left it
    table = source_table(mssql_conn, name)
    assert [(c.name, c.data_type, c.identity) for c in table.columns] == [
        ("Id", id_type, True),
        ("Name", "nvarchar", False),
    ]

    report = copy_table(mssql_conn, table, fresh_database)

    assert report.verification.ok, report.verification.describe()
    target_max, next_id = identity_state(fresh_database, name)
    assert target_max == max_id
    assert next_id == expected_next
    assert next_id > (max_id or 0)
    assert key_and_identity(fresh_database, name) == (["Id"], "a")  # GENERATED ALWAYS, the primary key kept
