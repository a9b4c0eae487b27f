"""SQL Server catalog reading, fed the rows StackOverflow2010's catalog returns.

SQL Server cannot run here: every test hands ``fetch_tables`` a stand-in connection answering
each catalog query (``sql/mssql/*.sql``) with the rows SQL Server returns for it, values exactly
as sys.columns stores them (nvarchar lengths in bytes, int precision 10, datetime scale 3).
"""

from __future__ import annotations

import pytest

from include.replication.models import ForeignKey, Index, SourceColumn, SourceTable
from include.replication.mssql.catalog import CATALOG_SQL, source_column
from include.replication.mssql.source import SqlServerSource
from include.replication.mssql.types import map_table
from include.stackoverflow.schema import MAX, ROW_COUNTS, TABLES
from tests.unit.mssql_fakes import FakeConnection

# list_columns.sql for StackOverflow2010: table, column, type, max_length, precision, scale,
# is_nullable, is_identity, in the order the query returns them (table name, then column_id).
STACKOVERFLOW2010_COLUMNS = [
    ("Badges", "Id", "int", 4, 10, 0, False, True),
    ("Badges", "Name", "nvarchar", 80, 0, 0, False, False),
    ("Badges", "UserId", "int", 4, 10, 0, False, False),
    ("Badges", "Date", "datetime", 8, 23, 3, False, False),
    ("Comments", "Id", "int", 4, 10, 0, False, True),
    ("Comments", "CreationDate", "datetime", 8, 23, 3, False, False),
    ("Comments", "PostId", "int", 4, 10, 0, False, False),
    ("Comments", "Score", "int", 4, 10, 0, True, False),
    ("Comments", "Text", "nvarchar", 1400, 0, 0, False, False),
    ("Comments", "UserId", "int", 4, 10, 0, True, False),
    ("LinkTypes", "Id", "int", 4, 10, 0, False, True),
    ("LinkTypes", "Type", "varchar", 50, 0, 0, False, False),
    ("PostLinks", "Id", "int", 4, 10, 0, False, True),
    ("PostLinks", "CreationDate", "datetime", 8, 23, 3, False, False),
    ("PostLinks", "PostId", "int", 4, 10, 0, False, False),
    ("PostLinks", "RelatedPostId", "int", 4, 10, 0, False, False),
    ("PostLinks", "LinkTypeId", "int", 4, 10, 0, False, False),
    ("Posts", "Id", "int", 4, 10, 0, False, True),
    ("Posts", "AcceptedAnswerId", "int", 4, 10, 0, True, False),
    ("Posts", "AnswerCount", "int", 4, 10, 0, True, False),
    ("Posts", "Body", "nvarchar", -1, 0, 0, False, False),
    ("Posts", "ClosedDate", "datetime", 8, 23, 3, True, False),
    ("Posts", "CommentCount", "int", 4, 10, 0, True, False),
    ("Posts", "CommunityOwnedDate", "datetime", 8, 23, 3, True, False),
    ("Posts", "CreationDate", "datetime", 8, 23, 3, False, False),
    ("Posts", "FavoriteCount", "int", 4, 10, 0, True, False),
    ("Posts", "LastActivityDate", "datetime", 8, 23, 3, False, False),
    ("Posts", "LastEditDate", "datetime", 8, 23, 3, True, False),
    ("Posts", "LastEditorDisplayName", "nvarchar", 80, 0, 0, True, False),
    ("Posts", "LastEditorUserId", "int", 4, 10, 0, True, False),
    ("Posts", "OwnerUserId", "int", 4, 10, 0, True, False),
    ("Posts", "ParentId", "int", 4, 10, 0, True, False),
    ("Posts", "PostTypeId", "int", 4, 10, 0, False, False),
    ("Posts", "Score", "int", 4, 10, 0, False, False),
    ("Posts", "Tags", "nvarchar", 300, 0, 0, True, False),
    ("Posts", "Title", "nvarchar", 500, 0, 0, True, False),
    ("Posts", "ViewCount", "int", 4, 10, 0, False, False),
    ("PostTypes", "Id", "int", 4, 10, 0, False, True),
    ("PostTypes", "Type", "nvarchar", 100, 0, 0, False, False),
    ("Users", "Id", "int", 4, 10, 0, False, True),
    ("Users", "AboutMe", "nvarchar", -1, 0, 0, True, False),
    ("Users", "Age", "int", 4, 10, 0, True, False),
    ("Users", "CreationDate", "datetime", 8, 23, 3, False, False),
    ("Users", "DisplayName", "nvarchar", 80, 0, 0, False, False),
    ("Users", "DownVotes", "int", 4, 10, 0, False, False),
    ("Users", "EmailHash", "nvarchar", 80, 0, 0, True, False),
    ("Users", "LastAccessDate", "datetime", 8, 23, 3, False, False),
    ("Users", "Location", "nvarchar", 200, 0, 0, True, False),
    ("Users", "Reputation", "int", 4, 10, 0, False, False),
    ("Users", "UpVotes", "int", 4, 10, 0, False, False),
    ("Users", "Views", "int", 4, 10, 0, False, False),
    ("Users", "WebsiteUrl", "nvarchar", 400, 0, 0, True, False),
    ("Users", "AccountId", "int", 4, 10, 0, True, False),
    ("Votes", "Id", "int", 4, 10, 0, False, True),
    ("Votes", "PostId", "int", 4, 10, 0, False, False),
    ("Votes", "UserId", "int", 4, 10, 0, True, False),
    ("Votes", "BountyAmount", "int", 4, 10, 0, True, False),
    ("Votes", "VoteTypeId", "int", 4, 10, 0, False, False),
    ("Votes", "CreationDate", "datetime", 8, 23, 3, False, False),
    ("VoteTypes", "Id", "int", 4, 10, 0, False, True),
    ("VoteTypes", "Name", "varchar", 50, 0, 0, False, False),
]
# list_tables.sql: names in the database collation's order (SQL_Latin1_General_CP1_CI_AS puts
# Posts before PostTypes), partition row counts of the restored database.
STACKOVERFLOW2010_TABLES = [(name, ROW_COUNTS[name]) for name in sorted(ROW_COUNTS, key=str.lower)]
STACKOVERFLOW2010_PRIMARY_KEYS = [(name, "Id") for name, _ in STACKOVERFLOW2010_TABLES]


def catalog(tables, columns, primary_keys=(), foreign_keys=(), indexes=(), declared=None) -> FakeConnection:
    """A stand-in connection answering each catalog query with its canned rows.

    ``declared``: INFORMATION_SCHEMA's (table, column) names; by default what sys.* reports (SQL Server's case).
    """
    answers = {
        CATALOG_SQL["list_tables"]: tables,
        CATALOG_SQL["list_columns"]: columns,
        CATALOG_SQL["list_primary_keys"]: primary_keys,
        CATALOG_SQL["list_foreign_keys"]: foreign_keys,
        CATALOG_SQL["list_indexes"]: indexes,
        CATALOG_SQL["declared_names"]: [(c[0], c[1]) for c in columns] if declared is None else declared,
    }
    return FakeConnection(lambda sql, params: answers[sql])


def stackoverflow_catalog() -> FakeConnection:
    return catalog(STACKOVERFLOW2010_TABLES, STACKOVERFLOW2010_COLUMNS, STACKOVERFLOW2010_PRIMARY_KEYS)


def expected_table(table) -> SourceTable:
    """schema.py's table as the SourceTable the catalog must yield."""
    columns = tuple(SourceColumn(c.name, c.sql_type, c.nullable, c.length, identity=c.identity) for c in table.columns)
    return SourceTable("dbo", table.name, columns, primary_key=("Id",), approx_rows=ROW_COUNTS[table.name])


def test_stackoverflow2010_catalog_is_schema_py():
    """Stand-in for SQL Server: the nine tables, 61 columns, keys and row counts equal schema.py's."""
    tables = SqlServerSource(stackoverflow_catalog()).fetch_tables("dbo")
    assert tables == [expected_table(t) for t in TABLES]
    assert sum(len(t.columns) for t in tables) == 61


def test_catalog_queries_bind_the_schema():
    """Stand-in for SQL Server: every catalog query runs once, the schema a bound parameter."""
    conn = stackoverflow_catalog()
    SqlServerSource(conn).fetch_tables("dbo")
    assert [sql for sql, _ in conn.executed] == [CATALOG_SQL[name] for name in
        ("list_tables", "list_columns", "list_primary_keys", "list_foreign_keys", "list_indexes",
         "declared_names")]  # fmt: skip
    assert all(params == {"schema": "dbo"} for _, params in conn.executed)
    assert all("dbo" not in sql for sql, _ in conn.executed)
    assert all(cursor.closed for cursor in conn.cursors)


def pg_type(column) -> str:
    """The PostgreSQL type PRODUCT.md section 5 gives the StackOverflow2010 column types."""
    if column.sql_type in ("nvarchar", "varchar"):
        return "text" if column.length == MAX else f"varchar({column.length})"
    return {"int": "integer", "datetime": "timestamp(3)"}[column.sql_type]


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_stackoverflow2010_maps_to_postgres_types(table):
    """Stand-in for SQL Server: map_table() of the catalog's tables gives the expected PostgreSQL columns."""
    source = {t.name: t for t in SqlServerSource(stackoverflow_catalog()).fetch_tables("dbo")}[table.name]
    mapped = map_table(source)
    assert [(c.name, c.data_type, c.nullable, c.identity) for c in mapped] == [
        (c.name, pg_type(c), c.nullable, c.identity) for c in table.columns
    ]


# Raw sys.columns values of other types: (type, max_length, precision, scale) -> SourceColumn fields.
@pytest.mark.parametrize(
    ("raw", "length", "precision", "scale", "pg"),
    [
        (("nchar", 20, 0, 0), 10, None, None, "char(10)"),
        (("nvarchar", 256, 0, 0), 128, None, None, "varchar(128)"),  # sysname resolves to nvarchar(128)
        (("char", 3, 0, 0), 3, None, None, "char(3)"),
        (("varchar", -1, 0, 0), -1, None, None, "text"),
        (("varbinary", -1, 0, 0), -1, None, None, "bytea"),
        (("binary", 16, 0, 0), 16, None, None, "bytea"),
        (("decimal", 9, 19, 4), None, 19, 4, "numeric(19,4)"),
        (("money", 8, 19, 4), None, None, None, "numeric(19,4)"),
        (("float", 8, 53, 0), None, 53, None, "double precision"),
        (("real", 4, 24, 0), None, 24, None, "real"),  # float(24) is stored, and listed, as real
        (("datetime2", 8, 27, 7), None, None, 7, "timestamp(6)"),
        (("datetime2", 7, 23, 3), None, None, 3, "timestamp(3)"),
        (("time", 5, 16, 7), None, None, 7, "time(6)"),
        (("datetimeoffset", 10, 34, 7), None, None, 7, "timestamptz"),
        (("datetime", 8, 23, 3), None, None, None, "timestamp(3)"),
        (("hierarchyid", 892, 0, 0), None, None, None, "text"),  # CLR type: keeps its own name
        (("uniqueidentifier", 16, 0, 0), None, None, None, "uuid"),
        (("tinyint", 1, 3, 0), None, None, None, "smallint"),
        (("timestamp", 8, 0, 0), None, None, None, "bytea"),  # rowversion, as sys.types names it
    ],
    ids=lambda v: "-".join(map(str, v)) if isinstance(v, tuple) else None,
)
def test_sys_columns_values_become_characters_and_digits(raw, length, precision, scale, pg):
    """Stand-in for SQL Server: sys.columns bytes turn into characters; precision/scale kept where they mean something."""
    column = source_column("c", *raw, True, False)
    assert (column.data_type, column.char_length, column.precision, column.scale) == (raw[0], length, precision, scale)
    assert map_table(SourceTable("dbo", "t", (column,)))[0].data_type == pg


def test_composite_keys_foreign_keys_and_indexes_are_grouped_in_order():
    """Stand-in for SQL Server: one catalog row per column groups into keys and indexes, order kept."""
    conn = catalog(
        tables=[("Child", 10), ("Parent", 2)],
        columns=[
            ("Child", "A", "int", 4, 10, 0, False, False),
            ("Child", "B", "int", 4, 10, 0, False, False),
            ("Child", "Note", "nvarchar", 20, 0, 0, True, False),
            ("Parent", "X", "int", 4, 10, 0, False, False),
            ("Parent", "Y", "int", 4, 10, 0, False, False),
        ],
        primary_keys=[("Child", "B"), ("Child", "A"), ("Parent", "X"), ("Parent", "Y")],
        foreign_keys=[
            ("Child", "FK_Child_Parent", "A", "dbo", "Parent", "X"),
            ("Child", "FK_Child_Parent", "B", "dbo", "Parent", "Y"),
        ],  # fmt: skip
        indexes=[
            ("Child", "IX_Note", False, "Note"),
            ("Child", "UQ_Note_A", True, "Note"),
            ("Child", "UQ_Note_A", True, "A"),
        ],  # fmt: skip
    )
    child, parent = SqlServerSource(conn).fetch_tables("dbo")
    assert child.primary_key == ("B", "A")
    assert child.foreign_keys == (ForeignKey("FK_Child_Parent", ("A", "B"), "dbo", "Parent", ("X", "Y")),)
    assert child.indexes == (Index("IX_Note", ("Note",), False), Index("UQ_Note_A", ("Note", "A"), True))
    assert (parent.primary_key, parent.foreign_keys, parent.indexes, parent.approx_rows) == (("X", "Y"), (), (), 2)


def test_empty_schema_has_no_tables():
    """Stand-in for SQL Server: a schema without tables (or a misspelt one) yields an empty list."""
    assert SqlServerSource(catalog([], [])).fetch_tables("nosuchschema") == []


def test_names_keep_their_declared_case_where_sys_lowers_them():
    """Stand-in for Babelfish, whose sys.* views return lower-case names and INFORMATION_SCHEMA the declared ones:
    tables, columns, key, foreign key and index columns all come out as declared."""
    lower = [tuple(v.lower() if isinstance(v, str) and i < 2 else v for i, v in enumerate(c))
             for c in STACKOVERFLOW2010_COLUMNS]  # fmt: skip
    conn = catalog(
        tables=[(name.lower(), rows) for name, rows in STACKOVERFLOW2010_TABLES],
        columns=lower,
        primary_keys=[(name.lower(), "id") for name, _ in STACKOVERFLOW2010_TABLES],
        foreign_keys=[("votes", "fk_votes_posts", "postid", "dbo", "posts", "id")],
        indexes=[("votes", "ix_votes_postid", False, "postid")],
        declared=[(c[0], c[1]) for c in STACKOVERFLOW2010_COLUMNS],
    )
    tables = {t.name: t for t in SqlServerSource(conn).fetch_tables("dbo")}
    assert sorted(tables) == sorted(ROW_COUNTS)
    votes = tables["Votes"]
    assert [c.name for c in votes.columns] == ["Id", "PostId", "UserId", "BountyAmount", "VoteTypeId", "CreationDate"]
    assert votes.primary_key == ("Id",) and votes.integer_key == "Id"
    assert votes.foreign_keys == (ForeignKey("fk_votes_posts", ("PostId",), "dbo", "Posts", ("Id",)),)
    assert votes.indexes == (Index("ix_votes_postid", ("PostId",), False),)


def test_a_case_sensitive_database_keeps_names_that_differ_only_in_case():
    """Stand-in for SQL Server with a _CS_ collation: sys.* already agrees with INFORMATION_SCHEMA, nothing is renamed."""
    conn = catalog(
        tables=[("T", 1)],
        columns=[("T", "id", "int", 4, 10, 0, False, False), ("T", "ID", "int", 4, 10, 0, False, False)],
        primary_keys=[("T", "ID")],
    )
    (table,) = SqlServerSource(conn).fetch_tables("dbo")
    assert [c.name for c in table.columns] == ["id", "ID"] and table.primary_key == ("ID",)
