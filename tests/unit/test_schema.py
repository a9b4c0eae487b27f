"""The StackOverflow2010 schema as data, and the T-SQL script, match PRODUCT §9 column by column."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.stackoverflow.schema import (
    LOOKUP_ROWS,
    MAX,
    ROW_COUNTS,
    TABLES,
    TABLES_BY_NAME,
    TOTAL_ROWS,
    postgres_ddl,
)
from tests.conftest import dev_package

TSQL_SCRIPT = Path(__file__).resolve().parents[2] / "include" / "stackoverflow" / "sql" / "stackoverflow2010_mssql.sql"

# PRODUCT §9 / Brent Ozar's StackOverflow2010, written out independently of schema.py:
# (column, SQL Server type, length, nullable), in column order.
EXPECTED = {
    "Badges": [
        ("Id", "int", None, False),
        ("Name", "nvarchar", 40, False),
        ("UserId", "int", None, False),
        ("Date", "datetime", None, False),
    ],
    "Comments": [
        ("Id", "int", None, False),
        ("CreationDate", "datetime", None, False),
        ("PostId", "int", None, False),
        ("Score", "int", None, True),
        ("Text", "nvarchar", 700, False),
        ("UserId", "int", None, True),
    ],
    "LinkTypes": [("Id", "int", None, False), ("Type", "varchar", 50, False)],
    "PostLinks": [
        ("Id", "int", None, False),
        ("CreationDate", "datetime", None, False),
        ("PostId", "int", None, False),
        ("RelatedPostId", "int", None, False),
        ("LinkTypeId", "int", None, False),
    ],
    "Posts": [
        ("Id", "int", None, False),
        ("AcceptedAnswerId", "int", None, True),
        ("AnswerCount", "int", None, True),
        ("Body", "nvarchar", MAX, False),
        ("ClosedDate", "datetime", None, True),
        ("CommentCount", "int", None, True),
        ("CommunityOwnedDate", "datetime", None, True),
        ("CreationDate", "datetime", None, False),
        ("FavoriteCount", "int", None, True),
        ("LastActivityDate", "datetime", None, False),
        ("LastEditDate", "datetime", None, True),
        ("LastEditorDisplayName", "nvarchar", 40, True),
        ("LastEditorUserId", "int", None, True),
        ("OwnerUserId", "int", None, True),
        ("ParentId", "int", None, True),
        ("PostTypeId", "int", None, False),
        ("Score", "int", None, False),
        ("Tags", "nvarchar", 150, True),
        ("Title", "nvarchar", 250, True),
        ("ViewCount", "int", None, False),
    ],
    "PostTypes": [("Id", "int", None, False), ("Type", "nvarchar", 50, False)],
    "Users": [
        ("Id", "int", None, False),
        ("AboutMe", "nvarchar", MAX, True),
        ("Age", "int", None, True),
        ("CreationDate", "datetime", None, False),
        ("DisplayName", "nvarchar", 40, False),
        ("DownVotes", "int", None, False),
        ("EmailHash", "nvarchar", 40, True),
        ("LastAccessDate", "datetime", None, False),
        ("Location", "nvarchar", 100, True),
        ("Reputation", "int", None, False),
        ("UpVotes", "int", None, False),
        ("Views", "int", None, False),
        ("WebsiteUrl", "nvarchar", 200, True),
        ("AccountId", "int", None, True),
    ],
    "Votes": [
        ("Id", "int", None, False),
        ("PostId", "int", None, False),
        ("UserId", "int", None, True),
        ("BountyAmount", "int", None, True),
        ("VoteTypeId", "int", None, False),
        ("CreationDate", "datetime", None, False),
    ],
    "VoteTypes": [("Id", "int", None, False), ("Name", "varchar", 50, False)],
}


def test_nine_tables_and_61_columns():
    """Nine tables, 61 columns in all."""
    assert sorted(t.name for t in TABLES) == sorted(EXPECTED)
    assert sum(len(t.columns) for t in TABLES) == 61


@pytest.mark.parametrize("table", sorted(EXPECTED))
def test_columns_match_product_spec(table):
    """Each table's columns, in order, with type, length and nullability as in StackOverflow2010."""
    actual = [(c.name, c.sql_type, c.length, c.nullable) for c in TABLES_BY_NAME[table].columns]
    assert actual == EXPECTED[table]


@pytest.mark.parametrize("table", sorted(EXPECTED))
def test_only_id_is_identity_and_primary_key(table):
    """``Id int IDENTITY(1,1)`` is the only identity column and the primary key."""
    t = TABLES_BY_NAME[table]
    assert [c.name for c in t.columns if c.identity] == ["Id"]
    assert t.primary_key == "Id"


def test_real_row_counts():
    """Row counts are the real StackOverflow2010 counts, 19,310,703 in all."""
    assert ROW_COUNTS == {
        "Badges": 1_102_019,
        "Comments": 3_875_183,
        "LinkTypes": 2,
        "PostLinks": 161_519,
        "Posts": 3_729_195,
        "PostTypes": 8,
        "Users": 299_398,
        "Votes": 10_143_364,
        "VoteTypes": 15,
    }
    assert sum(ROW_COUNTS.values()) == TOTAL_ROWS == 19_310_703


def test_lookup_rows():
    """VoteTypes has 15 rows without Id 14; PostTypes keeps 'TagWikiExerpt'; LinkTypes is 1 Linked, 3 Duplicate."""
    vote_ids = [i for i, _ in LOOKUP_ROWS["VoteTypes"]]
    assert len(vote_ids) == 15 and 14 not in vote_ids and max(vote_ids) == 16
    assert len(LOOKUP_ROWS["PostTypes"]) == 8
    assert (4, "TagWikiExerpt") in LOOKUP_ROWS["PostTypes"]
    assert LOOKUP_ROWS["LinkTypes"] == ((1, "Linked"), (3, "Duplicate"))


def _tsql_tables() -> dict[str, list[tuple]]:
    """Parse the T-SQL script with sqlglot and return its columns in the same shape as EXPECTED."""
    sqlglot = dev_package("sqlglot")
    exp = sqlglot.exp
    tables = {}
    for statement in sqlglot.parse(TSQL_SCRIPT.read_text(), read="tsql"):
        if not isinstance(statement, exp.Create):
            continue
        schema = statement.this
        columns = []
        for col in schema.expressions:
            if not isinstance(col, exp.ColumnDef):
                continue
            data_type = col.args["kind"]
            type_name = data_type.sql("tsql").split("(")[0].lower()
            type_name = {"integer": "int"}.get(type_name, type_name)
            params = data_type.expressions
            length = None
            if params:
                text = params[0].sql("tsql").lower()
                length = MAX if text == "max" else int(text)
            constraints = [c.kind for c in col.constraints]
            # sqlglot parses an explicit NULL as NotNullColumnConstraint(allow_null=True)
            nullable = not any(
                isinstance(k, exp.NotNullColumnConstraint) and not k.args.get("allow_null") for k in constraints
            )
            identity = any(isinstance(k, exp.GeneratedAsIdentityColumnConstraint) for k in constraints)
            columns.append((col.name, type_name, length, nullable, identity))
        tables[schema.this.name] = columns
    return tables


def test_tsql_script_matches_schema():
    """The T-SQL script creates the same tables and columns as schema.py (parsed with sqlglot's tsql dialect)."""
    parsed = _tsql_tables()
    assert sorted(parsed) == sorted(EXPECTED)
    for table, columns in parsed.items():
        assert [c[:4] for c in columns] == EXPECTED[table], table
        assert [c[0] for c in columns if c[4]] == ["Id"], table
    assert TSQL_SCRIPT.read_text().count("PRIMARY KEY CLUSTERED ([Id] ASC)") == 9


def test_postgres_ddl_quotes_names_and_keeps_identity():
    """The PostgreSQL source DDL keeps case-sensitive names, identity and the primary key."""
    ddl = postgres_ddl(TABLES_BY_NAME["Users"])
    assert ddl.startswith('CREATE TABLE "public"."Users" (')
    assert '"Id" integer GENERATED BY DEFAULT AS IDENTITY NOT NULL' in ddl
    assert '"AboutMe" text,' in ddl
    assert '"DisplayName" character varying(40) NOT NULL' in ddl
    assert '"CreationDate" timestamp(3) without time zone NOT NULL' in ddl
    assert 'PRIMARY KEY ("Id")' in ddl
