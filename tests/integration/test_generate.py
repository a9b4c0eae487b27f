"""The generator builds a StackOverflow2010-shaped source in a real PostgreSQL: shape, counts, realism, determinism."""

from __future__ import annotations

import subprocess
import sys

import pytest

from include.stackoverflow.database import connect, row_counts
from include.stackoverflow.generate import CHUNK_ROWS, fit_utf16, generate
from include.stackoverflow.schema import (
    LOOKUP_ROWS,
    LOOKUP_TABLES,
    MAX,
    ROW_COUNTS,
    TABLES,
    TABLES_BY_NAME,
    postgres_type,
)

SCALE = 0.01


def content_hashes(url: str) -> dict[str, str]:
    """md5 of each table's rows in Id order: equal hashes mean equal content."""
    conn = connect(url)
    try:
        return {
            t.name: conn.run(f'SELECT md5(string_agg(t::text, E\'\\n\' ORDER BY "Id")) FROM "{t.name}" t')[0][0]
            for t in TABLES
        }
    finally:
        conn.close()


@pytest.fixture(scope="module")
def generated(pg_server_url):
    """One source at scale 0.01, shared by the read-only tests of this module."""
    from tests.conftest import database_url

    name = "t_generate_scale_001"
    admin = connect(pg_server_url)
    admin.run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.run(f"CREATE DATABASE {name}")
    url = database_url(pg_server_url, name)
    try:
        generate(url, scale=SCALE, seed=7)
        conn = connect(url)
        yield conn
        conn.close()
    finally:
        admin.run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def test_row_counts_within_one_percent_of_scale(generated):
    """Every table's row count is within 1% of scale x the real count; lookups are complete."""
    counts = row_counts(generated, TABLES, schema="public")
    for name, count in counts.items():
        if name in LOOKUP_TABLES:
            assert count == len(LOOKUP_ROWS[name]) == ROW_COUNTS[name]
        else:
            assert abs(count - SCALE * ROW_COUNTS[name]) <= 0.01 * SCALE * ROW_COUNTS[name], name


def test_catalog_matches_schema(generated):
    """Columns, order, types, nullability, identity and primary keys in the catalog equal schema.py; no FKs, no other indexes."""
    for table in TABLES:
        rows = generated.run(
            "SELECT column_name, format_type(a.atttypid, a.atttypmod), is_nullable, is_identity "
            "FROM information_schema.columns c JOIN pg_attribute a "
            "ON a.attrelid = format('%I.%I', c.table_schema, c.table_name)::regclass AND a.attname = c.column_name "
            "WHERE table_schema = 'public' AND table_name = :t ORDER BY ordinal_position",
            t=table.name,
        )
        expected = [
            [c.name, postgres_type(c), "YES" if c.nullable else "NO", "YES" if c.identity else "NO"]
            for c in table.columns
        ]
        assert rows == expected, table.name
        indexes = generated.run(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = :t", t=table.name
        )
        assert len(indexes) == 1 and "PRIMARY KEY" not in indexes[0][0] and '("Id")' in indexes[0][0], table.name
    assert generated.run("SELECT count(*) FROM pg_constraint WHERE contype = 'f'")[0][0] == 0


def test_identity_is_past_max_id(generated):
    """After the load, the identity's next value exceeds max(Id) (the source behaves like SQL Server's IDENTITY)."""
    for table in TABLES:
        seq = generated.run("SELECT pg_get_serial_sequence(:q, 'Id')", q=f'public."{table.name}"')[0][0]
        last, called = generated.run(f"SELECT last_value, is_called FROM {seq}")[0]
        max_id = generated.run(f'SELECT max("Id") FROM "{table.name}"')[0][0]
        assert called and last == max_id, table.name


REALISM = {
    "user -1 (Community)": 'SELECT count(*) FROM "Users" WHERE "Id" = -1',
    "sparse Posts ids": 'SELECT (max("Id") > 1.5 * count(*))::int FROM "Posts"',
    "non-BMP characters": 'SELECT count(*) FROM "Posts" WHERE "Body" ~ \'[\\U00010000-\\U0010FFFF]\'',
    "non-ASCII names": 'SELECT count(*) FROM "Users" WHERE "DisplayName" ~ \'[^\\x01-\\x7F]\'',
    "CRLF in bodies": "SELECT count(*) FROM \"Posts\" WHERE \"Body\" LIKE '%' || chr(13) || chr(10) || '%'",
    "backslashes in bodies": 'SELECT count(*) FROM "Posts" WHERE strpos("Body", chr(92)) > 0',
    "tabs in bodies": 'SELECT count(*) FROM "Posts" WHERE strpos("Body", chr(9)) > 0',
    "trailing spaces": 'SELECT count(*) FROM "Users" WHERE "DisplayName" LIKE \'% \'',
    "empty WebsiteUrl": 'SELECT count(*) FROM "Users" WHERE "WebsiteUrl" = \'\'',
    "NULL WebsiteUrl": 'SELECT count(*) FROM "Users" WHERE "WebsiteUrl" IS NULL',
    "Comments.Text at its 700 maximum": 'SELECT count(*) FROM "Comments" WHERE length("Text") = 700',
    "votes on posts that do not exist": 'SELECT count(*) FROM "Votes" v WHERE NOT EXISTS (SELECT 1 FROM "Posts" p WHERE p."Id" = v."PostId")',
    "answers have NULL titles": 'SELECT count(*) FROM "Posts" WHERE "PostTypeId" = 2 AND "Title" IS NULL',
    "long bodies (>= 10k chars)": 'SELECT count(*) FROM "Posts" WHERE length("Body") >= 10000',
    "votes dated at midnight": 'SELECT (count(*) FILTER (WHERE "CreationDate"::time <> \'00:00\') = 0)::int FROM "Votes"',
}


@pytest.mark.parametrize("query", REALISM.values(), ids=REALISM.keys())
def test_realistic_values_present(generated, query):
    """The generated data carries the shapes that break naive copies."""
    assert generated.run(query)[0][0] > 0


def test_text_fits_nvarchar_in_utf16_units(generated):
    """Every nvarchar(n) value fits n UTF-16 code units, as SQL Server counts them (an emoji takes two).

    The generator writes text at a column's declared maximum; in characters that overflowed
    nvarchar(250) for titles holding characters beyond the BMP.
    """
    over = {}
    for table in TABLES:
        for column in table.columns:
            if column.sql_type == "nvarchar" and column.length not in (None, MAX):
                col = f'"{column.name}"'
                units = f"length({col}) * 2 - length(regexp_replace({col}, '[\\U00010000-\\U0010FFFF]', '', 'g'))"
                over[f"{table.name}.{column.name}"] = generated.run(
                    f'SELECT count(*) FROM "{table.name}" WHERE {units} > {column.length}'
                )[0][0]
    assert over == dict.fromkeys(over, 0)


@pytest.mark.parametrize(
    ("value", "units", "expected"),
    [("abc", 3, "abc"), ("abcd", 3, "abc"), ("a😀b", 3, "a😀"), ("a😀b", 2, "a"), ("😀😀", 3, "😀"), ("", 0, "")],
)
def test_fit_utf16_counts_surrogate_pairs(value, units, expected):
    assert fit_utf16(value, units) == expected


def test_datetime_milliseconds_on_sql_server_grid(generated):
    """datetime values keep SQL Server's 1/300 s precision: milliseconds end in 0, 3 or 7."""
    bad = generated.run(
        'SELECT count(*) FROM "Posts" WHERE (extract(milliseconds FROM "CreationDate")::int % 10) NOT IN (0, 3, 7)'
    )[0][0]
    assert bad == 0


def test_body_length_distribution(generated):
    """Posts.Body averages about 1 KB with a long tail towards 30 KB."""
    mean, longest = generated.run('SELECT avg(length("Body")), max(length("Body")) FROM "Posts"')[0]
    assert 700 <= mean <= 1400
    assert longest >= 10_000


def test_same_seed_same_content_and_other_seed_differs(fresh_database):
    """Same scale and seed give identical content (per-table md5); another seed does not."""
    generate(fresh_database, scale=0.002, seed=11, workers=2)
    first = content_hashes(fresh_database)
    generate(fresh_database, scale=0.002, seed=11, workers=1)  # other worker count, same content
    assert content_hashes(fresh_database) == first
    generate(fresh_database, scale=0.002, seed=12, workers=2)
    changed = content_hashes(fresh_database)
    assert [t for t in first if first[t] != changed[t]] == [t for t in first if t not in LOOKUP_TABLES]


def test_chunks_span_table():
    """A table larger than one chunk is generated in several chunks (the unit of determinism)."""
    from include.stackoverflow.generate import Plan

    plan = Plan.for_scale(1.0, 42)
    assert plan.chunks("Votes") == -(-ROW_COUNTS["Votes"] // CHUNK_ROWS)
    assert plan.rows["Votes"] == ROW_COUNTS["Votes"]


def test_cli_prints_counts(fresh_database):
    """``.venv/bin/python -m include.stackoverflow.generate`` builds the source and prints per-table counts."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "include.stackoverflow.generate",
            "--scale",
            "0.001",
            "--seed",
            "3",
            "--url",
            fresh_database,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    for table in TABLES_BY_NAME:
        assert table in result.stdout
    assert "total" in result.stdout
