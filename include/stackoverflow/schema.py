"""The exact StackOverflow2010 schema (Brent Ozar's SQL Server database), as data.

Nine tables, 61 columns, in the source's column order. Every table has ``Id int IDENTITY(1,1)``
as its clustered primary key; there are no foreign keys and no other indexes. The T-SQL script
``sql/stackoverflow2010_mssql.sql`` and the PostgreSQL source schema rendered by
``postgres_ddl`` are both checked against this module by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from pg8000.native import identifier as _quote

MAX = -1  # nvarchar(max): SQL Server reports max_length -1 in INFORMATION_SCHEMA


@dataclass(frozen=True)
class Column:
    """One source column: SQL Server type name, declared length for strings, nullability."""

    name: str
    sql_type: str  # int | datetime | nvarchar | varchar
    nullable: bool
    length: int | None = None  # characters; MAX for (max); None for non-string types
    identity: bool = False

    @property
    def is_text(self) -> bool:
        return self.sql_type in ("nvarchar", "varchar")


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]

    @property
    def primary_key(self) -> str:
        return "Id"

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _id() -> Column:
    return Column("Id", "int", nullable=False, identity=True)


def _int(name: str, nullable: bool) -> Column:
    return Column(name, "int", nullable)


def _dt(name: str, nullable: bool) -> Column:
    return Column(name, "datetime", nullable)


def _nv(name: str, length: int, nullable: bool) -> Column:
    return Column(name, "nvarchar", nullable, length)


def _v(name: str, length: int, nullable: bool) -> Column:
    return Column(name, "varchar", nullable, length)


TABLES: tuple[Table, ...] = (
    Table("Badges", (_id(), _nv("Name", 40, False), _int("UserId", False), _dt("Date", False))),
    Table(
        "Comments",
        (
            _id(),
            _dt("CreationDate", False),
            _int("PostId", False),
            _int("Score", True),
            _nv("Text", 700, False),
            _int("UserId", True),
        ),
    ),
    Table("LinkTypes", (_id(), _v("Type", 50, False))),
    Table(
        "PostLinks",
        (
            _id(),
            _dt("CreationDate", False),
            _int("PostId", False),
            _int("RelatedPostId", False),
            _int("LinkTypeId", False),
        ),
    ),
    Table(
        "Posts",
        (
            _id(),
            _int("AcceptedAnswerId", True),
            _int("AnswerCount", True),
            _nv("Body", MAX, False),
            _dt("ClosedDate", True),
            _int("CommentCount", True),
            _dt("CommunityOwnedDate", True),
            _dt("CreationDate", False),
            _int("FavoriteCount", True),
            _dt("LastActivityDate", False),
            _dt("LastEditDate", True),
            _nv("LastEditorDisplayName", 40, True),
            _int("LastEditorUserId", True),
            _int("OwnerUserId", True),
            _int("ParentId", True),
            _int("PostTypeId", False),
            _int("Score", False),
            _nv("Tags", 150, True),
            _nv("Title", 250, True),
            _int("ViewCount", False),
        ),
    ),
    Table("PostTypes", (_id(), _nv("Type", 50, False))),
    Table(
        "Users",
        (
            _id(),
            _nv("AboutMe", MAX, True),
            _int("Age", True),
            _dt("CreationDate", False),
            _nv("DisplayName", 40, False),
            _int("DownVotes", False),
            _nv("EmailHash", 40, True),
            _dt("LastAccessDate", False),
            _nv("Location", 100, True),
            _int("Reputation", False),
            _int("UpVotes", False),
            _int("Views", False),
            _nv("WebsiteUrl", 200, True),
            _int("AccountId", True),
        ),
    ),
    Table(
        "Votes",
        (
            _id(),
            _int("PostId", False),
            _int("UserId", True),
            _int("BountyAmount", True),
            _int("VoteTypeId", False),
            _dt("CreationDate", False),
        ),
    ),
    Table("VoteTypes", (_id(), _v("Name", 50, False))),
)

TABLES_BY_NAME = {t.name: t for t in TABLES}

# Real StackOverflow2010 row counts (SELECT COUNT(*) on the restored database).
ROW_COUNTS: dict[str, int] = {
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
TOTAL_ROWS = 19_310_703

# The lookup tables' rows, exactly as in the database (Id 14 is absent from VoteTypes, Id 2 from
# LinkTypes, and PostTypes keeps the original typo "TagWikiExerpt").
LOOKUP_ROWS: dict[str, tuple[tuple[int, str], ...]] = {
    "VoteTypes": (
        (1, "AcceptedByOriginator"),
        (2, "UpMod"),
        (3, "DownMod"),
        (4, "Offensive"),
        (5, "Favorite"),
        (6, "Close"),
        (7, "Reopen"),
        (8, "BountyStart"),
        (9, "BountyClose"),
        (10, "Deletion"),
        (11, "Undeletion"),
        (12, "Spam"),
        (13, "InformModerator"),
        (15, "ModeratorReview"),
        (16, "ApproveEditSuggestion"),
    ),
    "PostTypes": (
        (1, "Question"),
        (2, "Answer"),
        (3, "Wiki"),
        (4, "TagWikiExerpt"),
        (5, "TagWiki"),
        (6, "ModeratorNomination"),
        (7, "WikiPlaceholder"),
        (8, "PrivilegeWiki"),
    ),
    "LinkTypes": ((1, "Linked"), (3, "Duplicate")),
}
LOOKUP_TABLES = tuple(LOOKUP_ROWS)


# PostgreSQL source schema: the closest PostgreSQL type for each SQL Server type used here
# (the same choices as the replication type mapper: datetime keeps its millisecond precision).
_PG_TYPES = {"int": "integer", "datetime": "timestamp(3) without time zone"}


def postgres_type(column: Column) -> str:
    """Return the PostgreSQL source type for ``column``."""
    if column.is_text:
        return "text" if column.length == MAX else f"character varying({column.length})"
    return _PG_TYPES[column.sql_type]


def postgres_ddl(table: Table, *, schema: str = "public", with_primary_key: bool = True) -> str:
    """Return ``CREATE TABLE`` for ``table`` as a PostgreSQL source table.

    The identity is ``GENERATED BY DEFAULT`` (SQL Server's IDENTITY_INSERT equivalent), so
    loaders can write the sparse ids of the real data; ``with_primary_key=False`` lets a bulk
    load build the index once, afterwards (see ``postgres_primary_key_ddl``).
    """
    lines = []
    for column in table.columns:
        line = f"    {_quote(column.name)} {postgres_type(column)}"
        if column.identity:
            line += " GENERATED BY DEFAULT AS IDENTITY"
        if not column.nullable:
            line += " NOT NULL"
        lines.append(line)
    if with_primary_key:
        lines.append(f"    CONSTRAINT {_quote('PK_' + table.name + '__Id')} PRIMARY KEY ({_quote(table.primary_key)})")
    body = ",\n".join(lines)
    return f"CREATE TABLE {_quote(schema)}.{_quote(table.name)} (\n{body}\n)"


def postgres_primary_key_ddl(table: Table, *, schema: str = "public") -> str:
    """Return the ``ALTER TABLE ... ADD PRIMARY KEY`` that ``postgres_ddl(with_primary_key=False)`` omits."""
    return (
        f"ALTER TABLE {_quote(schema)}.{_quote(table.name)} "
        f"ADD CONSTRAINT {_quote('PK_' + table.name + '__Id')} PRIMARY KEY ({_quote(table.primary_key)})"
    )


def postgres_identity_reset_sql(table: Table, *, schema: str = "public") -> tuple[str, dict[str, str]]:
    """Return SQL and parameters that move the identity past ``max(Id)`` (to 1 when no id is positive)."""
    qualified = f"{_quote(schema)}.{_quote(table.name)}"
    key = _quote("Id")
    # Identity sequences start at 1: with no positive id (empty, or only the Community user -1)
    # the next value must be 1 itself (is_called false); otherwise max(Id) + 1.
    sql = (
        "SELECT setval(pg_get_serial_sequence(:qualified, 'Id'), "
        f"greatest(coalesce(max({key}), 1), 1), coalesce(max({key}), 0) >= 1) FROM {qualified}"
    )
    return sql, {"qualified": qualified}
