"""The statements that put a table's owner, grants, comments and policies back after the swap."""

from __future__ import annotations

from include.replication.models import TableName
from include.replication.postgres.attachments import Attachments, Policy, restore_sql

TABLE = TableName("public", "Users")


def test_everything_attached_is_restored_in_order():
    attached = Attachments(
        owner="app owner",
        row_security=True,
        force_row_security=True,
        comment="it's people",
        grants=(("DisplayName", "reader", "UPDATE", True), (None, "PUBLIC", "SELECT", False)),
        column_comments={"Location": "free text"},
        policies=(Policy("own rows", False, "w", ("reader", "PUBLIC"), '("Id" = 1)', '("Id" > 0)'),),
    )

    statements = restore_sql(attached, TABLE, columns={"Id", "DisplayName", "Location"}, current_owner="loader")

    assert statements == [
        'ALTER TABLE "public"."Users" OWNER TO "app owner"',
        'GRANT UPDATE ("DisplayName") ON "public"."Users" TO "reader" WITH GRANT OPTION',
        'GRANT SELECT ON "public"."Users" TO PUBLIC',
        """COMMENT ON TABLE "public"."Users" IS 'it''s people'""",
        """COMMENT ON COLUMN "public"."Users"."Location" IS 'free text'""",
        'ALTER TABLE "public"."Users" ENABLE ROW LEVEL SECURITY',
        'ALTER TABLE "public"."Users" FORCE ROW LEVEL SECURITY',
        'CREATE POLICY "own rows" ON "public"."Users" AS RESTRICTIVE FOR UPDATE TO "reader", PUBLIC'
        ' USING (("Id" = 1)) WITH CHECK (("Id" > 0))',
    ]


def test_columns_the_new_table_lacks_and_the_own_owner_are_left_out():
    attached = Attachments(
        owner="loader",
        row_security=False,
        force_row_security=False,
        comment=None,
        grants=(("Gone", "reader", "SELECT", False),),
        column_comments={"Gone": "was here"},
    )

    assert restore_sql(attached, TABLE, columns={"Id"}, current_owner="loader") == []
