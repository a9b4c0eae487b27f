"""Which foreign keys a run wants, which it releases, how it settles and reports them; the SQL both targets send."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import pytest

from include.replication.foreign_keys import (
    STACKOVERFLOW_REFERENCES,
    ForeignKeyRefused,
    ForeignKeyReport,
    Origin,
    Reference,
    Status,
    release_foreign_keys,
    sample,
    settle_foreign_keys,
    touching,
    wanted_references,
)
from include.replication.models import ForeignKey, SourceColumn, SourceTable, TableName
from include.replication.mssql.target import SqlServerTarget
from include.replication.postgres import ddl
from include.replication.report import foreign_key_lines
from include.replication.settings import ForeignKeyMode, ReplicationSettings, SettingsError
from include.stackoverflow.schema import TABLES_BY_NAME
from tests.conftest import dev_package
from tests.unit.mssql_fakes import FakeConnection, wire_sql


def so_table(name: str, *foreign_keys: ForeignKey) -> SourceTable:
    columns = tuple(SourceColumn(c.name, c.sql_type, c.nullable) for c in TABLES_BY_NAME[name].columns)
    return SourceTable("dbo", name, columns, ("Id",), foreign_keys)


def ref(table: str, column: str, referenced: str, name: str = "", schema: str = "public") -> Reference:
    return Reference(TableName(schema, table), name or f"FK_{table}_{column}", (column,), TableName(schema, referenced),
                     ("Id",))  # fmt: skip


def on_target(*names: str):
    """``columns_of`` for a target holding the StackOverflow tables ``names`` (every column, case-folded)."""

    def columns_of(table: TableName) -> set[str] | None:
        found = TABLES_BY_NAME.get(table.name) if table.name in names else None
        return None if found is None else {c.name.casefold() for c in found.columns}

    return columns_of


NINE = tuple(TABLES_BY_NAME)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("off", set()), ("source", {"FK_declared"}), ("stackoverflow", {"FK_declared"} | {f"FK_{t}_{c}" for t, c, _ in STACKOVERFLOW_REFERENCES})],
    ids=["off", "source", "stackoverflow"],
)  # fmt: skip
def test_wanted_by_mode(mode, expected):
    """off: none; source: the declared ones; stackoverflow: those plus StackOverflow's fourteen references."""
    declared = ForeignKey("FK_declared", ("UserId",), "dbo", "Users", ("Id",))
    tables = {name: so_table(name, *((declared,) if name == "Badges" else ())) for name in NINE}
    wanted, skipped = wanted_references(tables, mode=ForeignKeyMode(mode), source_schema="dbo", target_schema="public",
                                        columns_of=on_target(*NINE))  # fmt: skip
    assert {r.name for r, _ in wanted} == expected and skipped == []
    assert all(r.table.schema == r.referenced.schema == "public" for r, _ in wanted)


def test_stackoverflow_references_name_real_columns():
    """Every reference's column exists in the StackOverflow2010 schema, and points at a table's Id."""
    for table, column, referenced in STACKOVERFLOW_REFERENCES:
        assert column in {c.name for c in TABLES_BY_NAME[table].columns}, (table, column)
        assert referenced in TABLES_BY_NAME


def test_one_table_run_wants_the_references_to_and_from_it_that_the_target_can_hold():
    """tables=[Votes] on a target without Users: Votes' keys to Posts and VoteTypes; the one to Users is skipped, said why."""
    wanted, skipped = wanted_references({"Votes": so_table("Votes")}, mode=ForeignKeyMode.STACKOVERFLOW,
                                        source_schema="dbo", target_schema="public",
                                        columns_of=on_target("Votes", "Posts", "VoteTypes"))  # fmt: skip
    assert {r.describe() for r, _ in wanted} == {"Votes.PostId → Posts.Id", "Votes.VoteTypeId → VoteTypes.Id"}
    assert skipped == ["Votes.UserId → Users.Id: no table public.Users on the target"]


def test_declared_key_to_another_schema_is_skipped_saying_why():
    outside = ForeignKey("FK_out", ("UserId",), "audit", "Users", ("Id",))
    wanted, skipped = wanted_references({"Badges": so_table("Badges", outside)}, mode=ForeignKeyMode.SOURCE,
                                        source_schema="dbo", target_schema="public", columns_of=on_target(*NINE))  # fmt: skip
    assert wanted == [] and "outside source schema 'dbo'" in skipped[0]


def test_touching_folds_names_as_the_engine_does():
    """SQL Server (Babelfish's catalog may lower-case a renamed table) compares without case; PostgreSQL with it."""
    keys = [ref("votes", "PostId", "posts", schema="dbo"), ref("Badges", "UserId", "Users", schema="dbo")]
    assert touching(keys, [TableName("dbo", "Posts")], str.casefold) == keys[:1]
    assert touching(keys, [TableName("dbo", "Posts")], str) == []
    assert touching(keys, [TableName("dbo", "Users")], str) == keys[1:]


class FakeTarget:
    """The foreign-key steps of a target, recorded; ``statuses`` by key name (an exception is raised)."""

    engine = "postgres"

    def __init__(self, existing: list[Reference] = (), statuses: dict[str, Any] | None = None) -> None:
        self.existing, self.statuses, self.steps = list(existing), statuses or {}, []

    def transaction(self):
        self.steps.append("transaction")
        return nullcontext()

    def foreign_keys(self, schema: str) -> list[Reference]:
        return list(self.existing)

    def drop_foreign_key(self, reference: Reference) -> None:
        self.steps.append(f"drop {reference.name}")

    def add_foreign_key(self, reference: Reference) -> Status:
        self.steps.append(f"add {reference.name}")
        status = self.statuses.get(reference.name, Status.VALIDATED)
        if isinstance(status, Exception):
            raise status
        return status

    def dangling_references(self, reference, *, key, limit):
        return 1234, [(5, 99), (17, 98), (90, 97)][:limit]


def test_release_drops_the_keys_touching_the_run_in_one_transaction():
    votes, badges = ref("Votes", "PostId", "Posts"), ref("Badges", "UserId", "Users")
    target = FakeTarget([votes, badges])
    assert release_foreign_keys(target, schema="public", tables=[TableName("public", "Posts")]) == [votes]
    assert target.steps == ["transaction", "drop FK_Votes_PostId"]
    assert release_foreign_keys(FakeTarget([badges]), schema="public", tables=[TableName("public", "Posts")]) == []


def test_settle_restores_first_creates_once_and_reports_each():
    """Released keys come back under their own names; a wanted duplicate of one is not created twice; a key already
    on the target is left; dangling rows are counted with samples; a refusal is reported, not raised."""
    released = ref("Votes", "PostId", "Posts", name="votes_post_fk")
    present = ref("Badges", "UserId", "Users")
    target = FakeTarget(
        [present], {"FK_Comments_PostId": Status.NOT_VALID, "FK_Votes_UserId": ForeignKeyRefused("no key")}
    )
    wanted = [(ref("Votes", "PostId", "Posts"), Origin.STACKOVERFLOW), (present, Origin.STACKOVERFLOW),
              (ref("Comments", "PostId", "Posts"), Origin.STACKOVERFLOW), (ref("Votes", "UserId", "Users"), Origin.STACKOVERFLOW)]  # fmt: skip
    report = settle_foreign_keys(target, mode=ForeignKeyMode.STACKOVERFLOW, schema="public", released=[released],
                                 wanted=wanted, keys=lambda table: ("Id",))  # fmt: skip
    got = [(o.reference.name, o.origin, o.status, o.dangling_rows) for o in report.outcomes]
    assert got == [
        ("votes_post_fk", Origin.RESTORED, Status.VALIDATED, 0),
        ("FK_Badges_UserId", Origin.STACKOVERFLOW, Status.PRESENT, 0),
        ("FK_Comments_PostId", Origin.STACKOVERFLOW, Status.NOT_VALID, 1234),
        ("FK_Votes_UserId", Origin.STACKOVERFLOW, Status.NOT_CREATED, 0),
    ]
    assert report.outcomes[2].samples == (
        "Comments.Id 5 (PostId 99)",
        "Comments.Id 17 (PostId 98)",
        "Comments.Id 90 (PostId 97)",
    )
    assert report.outcomes[3].note == "no key"
    assert ForeignKeyReport.from_dict(report.to_dict()) == report  # XCom round trip


def test_report_lines_name_count_and_samples():
    dangling = ref("Votes", "PostId", "Posts")
    report = ForeignKeyReport(
        ForeignKeyMode.STACKOVERFLOW,
        released=(dangling,),
        outcomes=(
            _outcome(ref("Posts", "PostTypeId", "PostTypes"), Status.VALIDATED),
            _outcome(dangling, Status.NOT_VALID, 1234, ("Votes.Id 5 (PostId 99)", "Votes.Id 17 (PostId 98)"), Origin.RESTORED),
        ),
        skipped=("Votes.UserId → Users.Id: no table public.Users on the target",),
    )  # fmt: skip
    lines = foreign_key_lines(report)
    assert lines[0] == "foreign_keys=stackoverflow: 1 validated, 1 not valid; 1 dropped for the loads and put back"
    assert "FK_Posts_PostTypeId: Posts.PostTypeId → PostTypes.Id" in lines[1] and lines[1].lstrip().startswith(
        "validated"
    )
    assert lines[2].lstrip().startswith("NOT VALID") and lines[2].endswith(
        "Votes.PostId → Posts.Id: 1,234 rows reference missing rows of Posts, "
        "e.g. Votes.Id 5 (PostId 99), Votes.Id 17 (PostId 98) [restored]"
    )
    assert "no table public.Users" in lines[3]
    assert foreign_key_lines(ForeignKeyReport(ForeignKeyMode.OFF)) == [] and foreign_key_lines(None) == []


def _outcome(reference, status, rows=0, samples=(), origin=Origin.STACKOVERFLOW):
    from include.replication.foreign_keys import Outcome

    return Outcome(reference, origin, status, rows, samples)


def test_sample_of_a_composite_key():
    two = Reference(TableName("s", "T"), "fk", ("A", "B"), TableName("s", "U"), ("X", "Y"))
    assert sample(two, ("K1", "K2"), (1, 2, 3, 4)) == "T.K1 1, K2 2 (A 3, B 4)"


def test_unknown_action_refused_before_it_reaches_sql():
    with pytest.raises(ValueError, match="unknown action 'DROP TABLE x'"):
        Reference(TableName("s", "T"), "fk", ("A",), TableName("s", "U"), ("Id",), on_delete="DROP TABLE x")


def test_setting_names_the_allowed_values():
    assert (
        ReplicationSettings.from_params({"foreign_keys": "stackoverflow"}).foreign_keys == ForeignKeyMode.STACKOVERFLOW
    )
    assert ReplicationSettings().foreign_keys == ForeignKeyMode.OFF
    with pytest.raises(SettingsError, match="foreign_keys must be one of off, source, stackoverflow; got 'on'"):
        ReplicationSettings.from_params({"foreign_keys": "on"})


QUOTED = Reference(TableName("dbo", "Vo]tes"), "FK x", ("Post Id",), TableName("dbo", "Posts"), ("Id",), "CASCADE")


def test_postgres_statements_quote_every_name():
    add = ddl.add_foreign_key_sql(ref("Votes", "PostId", "Posts"))
    assert add == ('ALTER TABLE "public"."Votes" ADD CONSTRAINT "FK_Votes_PostId" FOREIGN KEY ("PostId") '
                   'REFERENCES "public"."Posts" ("Id") ON DELETE NO ACTION ON UPDATE NO ACTION NOT VALID')  # fmt: skip
    count, rows = ddl.dangling_sql(ref("Votes", "PostId", "Posts"), ("Id",))
    assert count == ('SELECT count(*) FROM "public"."Votes" AS c WHERE c."PostId" IS NOT NULL AND NOT EXISTS '
                     '(SELECT 1 FROM "public"."Posts" AS p WHERE p."Id" = c."PostId")')  # fmt: skip
    assert rows.endswith('ORDER BY c."Id" LIMIT :limit')


def tsql_statements(answer) -> list[tuple[str, Any]]:
    conn = FakeConnection(answer)
    target = SqlServerTarget(conn)
    target.foreign_keys("dbo")
    target.drop_foreign_key(QUOTED)
    target.add_foreign_key(QUOTED)
    target.dangling_references(QUOTED, key=("Id",), limit=5)
    return conn.executed


def test_tsql_statements_parse_and_quote_every_name():
    """What reaches SQL Server (parameters substituted by pymssql) parses as T-SQL; names are bracketed."""
    executed = tsql_statements(lambda sql, params: [(3,)] if sql.startswith("SELECT COUNT_BIG") else [])
    sent = [wire_sql(sql, params) for sql, params in executed]
    assert sent[1] == "ALTER TABLE [dbo].[Vo]]tes] DROP CONSTRAINT IF EXISTS [FK x]"
    assert sent[2].startswith("ALTER TABLE [dbo].[Vo]]tes] WITH NOCHECK ADD CONSTRAINT [FK x] FOREIGN KEY ([Post Id])")
    assert sent[3] == "ALTER TABLE [dbo].[Vo]]tes] WITH CHECK CHECK CONSTRAINT [FK x]"
    assert sent[5].startswith("SELECT TOP (5) c.[Id], c.[Post Id] FROM [dbo].[Vo]]tes] AS c")
    for statement in sent:
        dev_package("sqlglot").parse_one(statement, read="tsql")


def refusing(number: int, message: bytes, statement: str = "WITH NOCHECK ADD"):
    def answer(sql, params):
        if statement in sql:
            raise Exception(number, message + b"DB-Lib error message 20018, severity 16")
        return []

    return answer


def test_tsql_refusal_is_reported_a_lost_connection_raised():
    """A server error (1776: no key to reference) becomes ForeignKeyRefused with its message; DB-Lib's own (20047:
    the connection is gone) propagates, so the task fails and is retried."""
    with pytest.raises(ForeignKeyRefused, match=r"^There are no primary or candidate keys"):
        SqlServerTarget(FakeConnection(refusing(1776, b"There are no primary or candidate keys"))).add_foreign_key(
            QUOTED
        )
    with pytest.raises(Exception, match="DBPROCESS is dead") as raised:
        SqlServerTarget(FakeConnection(refusing(20047, b"DBPROCESS is dead"))).add_foreign_key(QUOTED)
    assert not isinstance(raised.value, ForeignKeyRefused)


def test_tsql_without_nocheck_adds_checked_and_a_violated_key_is_not_created():
    """Babelfish refuses WITH NOCHECK (33557097): the first key finds out, every key is then added checked;
    a conflict (547) means the key cannot exist there: NOT_CREATED."""

    def answer(sql, params):
        if "WITH NOCHECK" in sql:
            raise Exception(33557097, b"'ALTER TABLE WITH [NO]CHECK ADD' is not currently supported in Babelfish")
        if "[FK x]" in sql:
            raise Exception(547, b'insert or update on table "votes" violates foreign key constraint')
        return []

    conn = FakeConnection(answer)
    target = SqlServerTarget(conn)
    assert target.add_foreign_key(QUOTED) == Status.NOT_CREATED
    clean = Reference(TableName("dbo", "Votes"), "FK_clean", ("VoteTypeId",), TableName("dbo", "VoteTypes"), ("Id",))
    assert target.add_foreign_key(clean) == Status.VALIDATED
    tried = [sql.split(" FOREIGN KEY")[0] for sql, _ in conn.executed]
    assert tried == [
        "ALTER TABLE [dbo].[Vo]]tes] WITH NOCHECK ADD CONSTRAINT [FK x]",
        "ALTER TABLE [dbo].[Vo]]tes] ADD CONSTRAINT [FK x]",
        "ALTER TABLE [dbo].[Votes] ADD CONSTRAINT [FK_clean]",  # no second probe
    ]
