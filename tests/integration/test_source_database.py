"""Building blocks of the source builders against a real PostgreSQL: identity alignment edge cases."""

from __future__ import annotations

import pytest

from include.stackoverflow.database import connect, copy_rows, create_tables, finish_table
from include.stackoverflow.schema import TABLES_BY_NAME

USERS = TABLES_BY_NAME["Users"]
COMMUNITY = (
    -1,
    None,
    None,
    "2008-07-31 00:00:00",
    "Community",
    0,
    None,
    "2008-07-31 00:00:00",
    None,
    1,
    0,
    0,
    None,
    -1,
)


@pytest.mark.parametrize(
    ("ids", "next_id"),
    [
        pytest.param([], 1, id="empty-table"),
        pytest.param([-1], 1, id="only-community-user"),
        pytest.param([-1, 1], 2, id="max-is-one"),
        pytest.param([-1, 5, 1000], 1001, id="sparse"),
    ],
)
def test_identity_next_value_exceeds_max_id(fresh_database, ids, next_id):
    """After finish_table, the identity's next value is max(Id) + 1, or 1 when no id is positive."""
    conn = connect(fresh_database)
    create_tables(conn, [USERS], schema="public")
    copy_rows(conn, USERS, [(i, *COMMUNITY[1:]) for i in ids], schema="public")
    finish_table(conn, USERS, schema="public")
    assert conn.run("SELECT nextval(pg_get_serial_sequence('public.\"Users\"', 'Id'))")[0][0] == next_id
    conn.close()
