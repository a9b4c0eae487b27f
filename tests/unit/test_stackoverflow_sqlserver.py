"""The StackOverflow dataset loader for SQL Server: the T-SQL it sends, checked without a server.

Stand-in for SQL Server (none runs here): a pymssql-shaped connection records each statement;
pymssql's own substitution renders the values, and sqlglot parses the result as T-SQL.
``tests/mssql/test_dags.py`` loads real servers with it.
"""

from __future__ import annotations

from include.stackoverflow import sqlserver
from include.stackoverflow.generate import Plan, generate_rows
from include.stackoverflow.schema import TABLES_BY_NAME
from tests.conftest import dev_package
from tests.unit.mssql_fakes import FakeConnection, wire_sql


def test_rows_go_in_batches_with_their_ids_and_style_121_dates():
    """Ids kept under IDENTITY_INSERT; ISO dates from the dumps ("T") become style 121's space."""
    conn = FakeConnection()
    rows = [(i, "2010-07-31T23:59:59.997", i, None, f"text {i} 😀", None) for i in range(1, 1_202)]
    assert sqlserver.insert_rows(conn, TABLES_BY_NAME["Comments"], rows) == 1_201
    statements = [wire_sql(sql, params) for sql, params in conn.executed]
    assert statements[0] == "SET IDENTITY_INSERT [dbo].[Comments] ON"
    assert statements[-1] == "SET IDENTITY_INSERT [dbo].[Comments] OFF"
    inserts = statements[1:-1]
    assert len(inserts) == 3  # 500 + 500 + 201 rows
    assert "CONVERT(datetime, N'2010-07-31 23:59:59.997', 121)" in inserts[0]
    assert "N'text 1 😀'" in inserts[0]
    sqlglot = dev_package("sqlglot")
    for statement in inserts:
        sqlglot.parse_one(statement, read="tsql")


def test_long_text_makes_smaller_batches():
    """A batch closes early once its text reaches BATCH_TEXT_CHARS (Babelfish parses big statements slowly)."""
    conn = FakeConnection()
    plan = Plan.for_scale(0.001, 1)
    posts = list(generate_rows(plan, "Posts", 0))[:400]
    sqlserver.insert_rows(conn, TABLES_BY_NAME["Posts"], posts)
    inserts = [params for sql, params in conn.executed if params]
    assert len(inserts) > 1 and sum(len(p) for p in inserts) == 400 * len(TABLES_BY_NAME["Posts"].columns)
