"""The dump loader's value rules, on small XML files written for each test."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from include.stackoverflow.database import connect
from include.stackoverflow.load_dump import DumpError, LoadReport, load_dump

# Like the real dumps: a UTF-8 BOM, an XML declaration, one root element of self-closing rows.
BOM = "\ufeff"
ROOTS = {"Badges": "badges", "Comments": "comments", "PostLinks": "postlinks", "Posts": "posts"}
ROOTS |= {"Users": "users", "Votes": "votes"}

POST = 'Id="{id}" PostTypeId="1" CreationDate="2020-01-02T03:04:05.678" Score="1" LastActivityDate="2020-01-02T03:04:05.678"'
COMMENT = 'Id="{id}" PostId="1" CreationDate="2020-01-02T03:04:05.678"'
USER = (
    'Id="{id}" Reputation="1" CreationDate="2020-01-02T03:04:05.678" DisplayName="someone" '
    'LastAccessDate="2020-01-02T03:04:05.678" Views="0" UpVotes="0" DownVotes="0"'
)


def write_dump(folder: Path, **files: list[str]) -> Path:
    """Write ``Table=[row attribute strings]`` as dump files in ``folder``; return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for table, rows in files.items():
        root = ROOTS.get(table, table.lower())
        body = "".join(f"  <row {attrs} />\n" for attrs in rows)
        text = f'{BOM}<?xml version="1.0" encoding="utf-8"?>\n<{root}>\n{body}</{root}>'
        (folder / f"{table}.xml").write_text(text, encoding="utf-8")
    return folder


def query(url: str, sql: str) -> list[list]:
    conn = connect(url)
    try:
        return conn.run(sql)
    finally:
        conn.close()


def load_posts(tmp_path: Path, url: str, *extra: str) -> LoadReport:
    """Load one post whose attributes are ``POST`` plus ``extra``."""
    return load_dump(write_dump(tmp_path / "dump", Posts=[" ".join([POST.format(id=1), *extra])]), url)


def test_absent_not_null_int_becomes_zero_and_is_counted(tmp_path: Path, fresh_database: str) -> None:
    report = load_posts(tmp_path, fresh_database, 'Body="x"')

    assert query(fresh_database, 'SELECT "ViewCount" FROM "Posts"') == [[0]]
    assert report.defaulted_columns == {"Posts.ViewCount": 1}


def test_absent_not_null_text_becomes_empty_and_is_counted(tmp_path: Path, fresh_database: str) -> None:
    report = load_posts(tmp_path, fresh_database, 'ViewCount="3"')

    assert query(fresh_database, 'SELECT "Body" FROM "Posts"') == [[""]]
    assert report.defaulted_columns == {"Posts.Body": 1}


def test_absent_nullable_column_is_null_and_is_counted(tmp_path: Path, fresh_database: str) -> None:
    report = load_posts(tmp_path, fresh_database, 'Body="x" ViewCount="3" Title="t"')

    assert query(fresh_database, 'SELECT "AcceptedAnswerId", "ClosedDate", "Tags", "Title" FROM "Posts"') == [
        [None, None, None, "t"]
    ]
    assert report.null_columns["Posts.AcceptedAnswerId"] == 1
    assert report.null_columns["Posts.Tags"] == 1
    assert "Posts.Title" not in report.null_columns
    assert report.defaulted_columns == {}


def test_empty_string_is_kept_not_null(tmp_path: Path, fresh_database: str) -> None:
    users = [USER.format(id=-1) + ' WebsiteUrl="" AboutMe=""', USER.format(id=2) + ' Location=""']
    load_dump(write_dump(tmp_path / "dump", Users=users), fresh_database)

    rows = query(fresh_database, 'SELECT "Id", "WebsiteUrl", "AboutMe", "Location" FROM "Users" ORDER BY "Id"')
    assert rows == [[-1, "", "", None], [2, None, None, ""]]


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        ("line&#xD;&#xA;next", "line\r\nnext"),
        ("trailing spaces   ", "trailing spaces   "),
        ("   leading", "   leading"),
        ("lone&#xD;cr and lf&#xA;", "lone\rcr and lf\n"),
        ("tab&#x9;and back\\slash \\N", "tab\tand back\\slash \\N"),
        ("&lt;p&gt;&amp;amp;&quot;&apos;&lt;/p&gt;", "<p>&amp;\"'</p>"),
        ("non-BMP \U0001f600 and é", "non-BMP \U0001f600 and é"),
    ],
    ids=["crlf", "trailing-spaces", "leading-spaces", "lone-cr-lf", "tab-backslash", "entities", "non-bmp"],
)
def test_text_is_byte_exact(tmp_path: Path, fresh_database: str, encoded: str, expected: str) -> None:
    load_posts(tmp_path, fresh_database, f'Body="{encoded}"')

    body = query(fresh_database, 'SELECT convert_to("Body", \'UTF8\') FROM "Posts"')[0][0]
    assert bytes(body) == expected.encode()


def test_unknown_attribute_is_ignored_and_counted(tmp_path: Path, fresh_database: str) -> None:
    rows = [POST.format(id=i) + ' Body="x" ContentLicense="CC BY-SA 4.0"' for i in (1, 2)]
    rows.append(POST.format(id=3) + ' Body="x" OwnerDisplayName="gone"')
    report = load_dump(write_dump(tmp_path / "dump", Posts=rows), fresh_database)

    assert report.rows["Posts"] == 3
    assert report.ignored_attributes == {"Posts.ContentLicense": 2, "Posts.OwnerDisplayName": 1}


@pytest.mark.parametrize(
    "value",
    ["2020-13-02T03:04:05.678", "2020-01-02 03:04:05.678", "2020-01-02T03:04:05.6789", "2020-01-02", "", "soon"],
    ids=["month-13", "space-separator", "four-fraction-digits", "date-only", "empty", "word"],
)
def test_malformed_datetime_names_table_id_and_column(tmp_path: Path, fresh_database: str, value: str) -> None:
    comment = f'Id="42" PostId="1" CreationDate="{value}" Text="hi"'

    with pytest.raises(DumpError, match=r"Comments \(Comments\.xml\) Id=42 column CreationDate: malformed datetime"):
        load_dump(write_dump(tmp_path / "dump", Comments=[comment]), fresh_database)


def test_absent_not_null_datetime_is_an_error(tmp_path: Path, fresh_database: str) -> None:
    with pytest.raises(DumpError, match=r"Comments \(Comments\.xml\) Id=7 column CreationDate: .*absent"):
        load_dump(write_dump(tmp_path / "dump", Comments=['Id="7" PostId="1" Text="hi"']), fresh_database)


def test_absent_id_is_an_error_naming_the_row(tmp_path: Path, fresh_database: str) -> None:
    votes = ['Id="1" PostId="1" VoteTypeId="2" CreationDate="2020-01-02T00:00:00.000"']
    votes.append('PostId="1" VoteTypeId="2" CreationDate="2020-01-02T00:00:00.000"')

    with pytest.raises(DumpError, match=r"Votes \(Votes\.xml\) row #2 column Id: .*absent"):
        load_dump(write_dump(tmp_path / "dump", Votes=votes), fresh_database)


@pytest.mark.parametrize("value", ["1.5", "", " 1", "+1", "1_000", "2147483648"])
def test_non_integer_names_file_id_and_attribute(tmp_path: Path, fresh_database: str, value: str) -> None:
    vote = f'Id="9" PostId="{value}" VoteTypeId="2" CreationDate="2020-01-02T00:00:00.000"'

    with pytest.raises(DumpError, match=r"Votes \(Votes\.xml\) Id=9 column PostId: not a 32-bit integer"):
        load_dump(write_dump(tmp_path / "dump", Votes=[vote]), fresh_database)


def test_over_length_text_names_table_id_column_and_length(tmp_path: Path, fresh_database: str) -> None:
    comment = COMMENT.format(id=5) + f' Text="{"x" * 701}"'

    with pytest.raises(DumpError, match=r"Comments \(Comments\.xml\) Id=5 column Text: 701 characters exceed"):
        load_dump(write_dump(tmp_path / "dump", Comments=[comment]), fresh_database)


def test_length_counts_characters_not_bytes(tmp_path: Path, fresh_database: str) -> None:
    # 700 four-byte characters fit nvarchar(700) in PostgreSQL, which counts characters too.
    emoji = "\U0001f600"
    comment = COMMENT.format(id=5) + f' Text="{emoji * 700}"'
    load_dump(write_dump(tmp_path / "dump", Comments=[comment]), fresh_database)

    assert query(fresh_database, 'SELECT length("Text") FROM "Comments"') == [[700]]


def test_malformed_xml_names_the_file(tmp_path: Path, fresh_database: str) -> None:
    dump = write_dump(tmp_path / "dump", Badges=['Id="1" Name="x" UserId="1" Date="2020-01-02T00:00:00.000"'])
    (dump / "Badges.xml").write_text('<badges><row Id="1" Name="x></badges>', encoding="utf-8")

    with pytest.raises(DumpError, match=r"Badges\.xml: malformed XML"):
        load_dump(dump, fresh_database)


def test_a_failed_load_leaves_the_previous_tables(tmp_path: Path, fresh_database: str) -> None:
    load_posts(tmp_path / "good", fresh_database, 'Body="kept"')
    bad = [POST.format(id=i) + ' Body="x"' for i in range(1, 5)] + [
        POST.format(id=5).replace('PostTypeId="1"', 'PostTypeId="x"')
    ]

    with pytest.raises(DumpError, match="Id=5 column PostTypeId"):
        load_dump(write_dump(tmp_path / "bad", Posts=bad), fresh_database)

    assert query(fresh_database, 'SELECT "Id", "Body" FROM "Posts"') == [[1, "kept"]]
    assert query(fresh_database, 'SELECT count(*) FROM "VoteTypes"') == [[15]]


def test_missing_and_extra_files_are_reported(tmp_path: Path, fresh_database: str) -> None:
    dump = write_dump(tmp_path / "dump", Posts=[POST.format(id=1) + ' Body="x"'], Tags=['Id="1" TagName="t"'])
    (dump / "PostHistory.xml").write_text("<posthistory />", encoding="utf-8")

    report = load_dump(dump, fresh_database)

    assert report.skipped_files == ("PostHistory.xml", "Tags.xml")
    assert report.missing_files == ("Badges.xml", "Comments.xml", "PostLinks.xml", "Users.xml", "Votes.xml")
    assert report.rows == {
        "Badges": 0,
        "Comments": 0,
        "LinkTypes": 2,
        "PostLinks": 0,
        "Posts": 1,
        "PostTypes": 8,
        "Users": 0,
        "Votes": 0,
        "VoteTypes": 15,
    }
    assert "Badges.xml" in report.render()


def test_identity_continues_after_the_highest_id(tmp_path: Path, fresh_database: str) -> None:
    load_posts(tmp_path, fresh_database, 'Body="x"')
    rows = query(
        fresh_database,
        'INSERT INTO "Posts" ("Body", "CreationDate", "LastActivityDate", "PostTypeId", "Score", '
        '"ViewCount") VALUES (\'y\', now(), now(), 1, 0, 0) RETURNING "Id"',
    )
    assert rows == [[2]]


def write_votes(path: Path, count: int) -> None:
    """Write a Votes.xml of ``count`` rows without holding it in memory."""
    with path.open("w", encoding="utf-8") as out:
        out.write(f'{BOM}<?xml version="1.0" encoding="utf-8"?>\n<votes>\n')
        for i in range(1, count + 1):
            user = f' UserId="{i % 977}"' if i % 3 else ""
            out.write(
                f'  <row Id="{i}" PostId="{i // 4 + 1}" VoteTypeId="2"{user} CreationDate="2020-01-02T00:00:00.000" />\n'
            )
        out.write("</votes>")


def test_memory_stays_flat_on_a_large_file(tmp_path: Path, fresh_database: str) -> None:
    rows = 200_000
    dump = tmp_path / "dump"
    dump.mkdir()
    write_votes(dump / "Votes.xml", rows)

    tracemalloc.start()
    try:
        report = load_dump(dump, fresh_database)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert report.rows["Votes"] == rows
    # The file is ~19 MB and its rows as Python tuples would take far more: 30 MB proves streaming.
    assert peak < 30 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def test_duplicate_ids_fail_naming_the_table(tmp_path: Path, fresh_database: str) -> None:
    badges = ['Id="3" Name="x" UserId="1" Date="2020-01-02T00:00:00.000"'] * 2

    with pytest.raises(
        DumpError, match=r"Badges \(Badges\.xml\): could not create unique index .*Key \(\"Id\"\)=\(3\) is duplicated"
    ):
        load_dump(write_dump(tmp_path / "dump", Badges=badges), fresh_database)
