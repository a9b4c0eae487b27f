"""The swap replaces a table's rows, not what users hang on it: owner, grants, comments, row-level security.

And a view on a table the run would replace (its DROP would fail after all the copying) stops the
run before any data moves, naming the view.
"""

from __future__ import annotations

import secrets

import pytest

from include.stackoverflow.database import connect
from include.stackoverflow.generate import generate
from tests.integration.replication_helpers import content_hash, run_dag, task_states

STREAMING = "replicate_stackoverflow_to_postgres_parallel"


def run_sql(url: str, *statements: str) -> list:
    conn = connect(url)
    try:
        return [conn.run(statement) for statement in statements][-1]
    finally:
        conn.close()


@pytest.fixture
def roles(pg_server_url, target_database):
    """Two roles of this test's own (roles are the whole server's), dropped afterwards.

    What they own or are granted lives in the target database, so that is where it is dropped first.
    """
    names = [f"t_reader_{secrets.token_hex(3)}", f"t_owner_{secrets.token_hex(3)}"]
    run_sql(pg_server_url, *(f'CREATE ROLE "{name}" NOLOGIN' for name in names))
    yield names
    run_sql(target_database, *(f'DROP OWNED BY "{name}"' for name in names))
    run_sql(pg_server_url, *(f'DROP ROLE "{name}"' for name in names))


def test_owner_grants_comments_and_row_security_survive_a_rerun(airflow_db, fresh_database, target_database, roles):
    """Hung on the target's Users after the first run, all of it is there after the second; the rows are new."""
    reader, owner = roles
    generate(fresh_database, scale=0.001, seed=21)
    assert str(run_dag(STREAMING, fresh_database, target_database, tables=["Users"]).state) == "success"
    run_sql(
        target_database,
        f'ALTER TABLE "Users" OWNER TO "{owner}"',
        f'GRANT SELECT ON "Users" TO "{reader}"',
        f'GRANT UPDATE ("DisplayName") ON "Users" TO "{reader}" WITH GRANT OPTION',
        """COMMENT ON TABLE "Users" IS 'people; it''s replicated'""",
        """COMMENT ON COLUMN "Users"."DisplayName" IS 'shown name'""",
        'ALTER TABLE "Users" ENABLE ROW LEVEL SECURITY',
        f'CREATE POLICY reputable ON "Users" FOR SELECT TO "{reader}" USING ("Reputation" > 1)',
    )
    run_sql(fresh_database, """UPDATE "Users" SET "Location" = 'changed' WHERE "Id" = -1""")

    run = run_dag(STREAMING, fresh_database, target_database, tables=["Users"])

    assert str(run.state) == "success", task_states(run)
    assert content_hash(target_database, "Users") == content_hash(fresh_database, "Users")
    found = run_sql(
        target_database,
        f"""SELECT pg_get_userbyid(c.relowner),
                   has_table_privilege('{reader}', c.oid, 'SELECT'),
                   has_column_privilege('{reader}', c.oid, 'DisplayName', 'UPDATE WITH GRANT OPTION'),
                   has_column_privilege('{reader}', c.oid, 'Location', 'UPDATE'),
                   obj_description(c.oid, 'pg_class'),
                   col_description(c.oid, (SELECT attnum FROM pg_attribute WHERE attrelid = c.oid
                                           AND attname = 'DisplayName')),
                   c.relrowsecurity,
                   (SELECT pg_get_expr(polqual, polrelid) FROM pg_policy WHERE polrelid = c.oid AND polname = 'reputable')
            FROM pg_class c WHERE c.oid = '"Users"'::regclass""",
    )[0]
    assert found == [owner, True, True, False, "people; it's replicated", "shown name", True, '("Reputation" > 1)']


def test_a_view_on_a_replaced_table_stops_the_run_before_data_moves(airflow_db, fresh_database, target_database, capfd):
    """The swap's DROP would refuse a table a view selects from: discovery names the view instead."""
    generate(fresh_database, scale=0.001, seed=22)
    run_sql(
        target_database,
        'CREATE TABLE "Users" ("Id" integer PRIMARY KEY, "Reputation" integer)',
        'CREATE VIEW "active users" AS SELECT "Id" FROM "Users" WHERE "Reputation" > 1',
    )

    run = run_dag(STREAMING, fresh_database, target_database, tables=["Users", "Badges"])

    assert task_states(run)["discover_tables"] == "failed"
    assert 'public.Users (by "active users")' in "".join(capfd.readouterr())
    found = run_sql(target_database, 'SELECT to_regclass(\'"Badges"\') IS NULL, count(*) FROM "Users"')
    assert found == [[True, 0]]  # no data moved
