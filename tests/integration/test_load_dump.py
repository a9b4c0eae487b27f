"""The dump loader against the real Stack Exchange dumps in ../shared/data/stackexchange.

Expected values come from an independent reading of the XML: a byte regex for row counts and
``xml.sax`` (not the loader's own expat loop) for values.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import xml.sax
from functools import cache
from pathlib import Path

import pytest
from pg8000.native import identifier

from include.stackoverflow.database import connect
from include.stackoverflow.load_dump import DUMP_FILES, LoadReport, load_dump
from include.stackoverflow.schema import LOOKUP_ROWS, TABLES_BY_NAME, Table
from tests.conftest import STACKEXCHANGE_DIR, require_stackexchange_dir, stackexchange_sites

PROJECT_DIR = Path(__file__).resolve().parents[2]
IOTA = STACKEXCHANGE_DIR / "iota.stackexchange.com"
BICYCLES_META = STACKEXCHANGE_DIR / "bicycles.meta.stackexchange.com"
SITES = stackexchange_sites()
DATA_TABLES = tuple(TABLES_BY_NAME[name] for name in DUMP_FILES.values())

# Per the dump folder's README and an independent count of iota.stackexchange.com's files.
IOTA_ROWS = {"Posts": 2_107, "Users": 3_012, "Comments": 2_239, "Votes": 10_270, "Badges": 3_937, "PostLinks": 337}


def xml_row_count(path: Path) -> int:
    """Count ``<row`` tags with a byte regex: '<' cannot occur unescaped inside an attribute."""
    return len(re.findall(rb"<row[\s/>]", path.read_bytes()))


class _RowCollector(xml.sax.ContentHandler):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []

    def startElement(self, name: str, attrs: xml.sax.xmlreader.AttributesImpl) -> None:  # SAX API names
        if name == "row":
            self.rows.append(dict(attrs.items()))


@cache
def xml_rows(path: Path) -> tuple[dict[str, str], ...]:
    """Every ``<row>``'s attributes, read with xml.sax."""
    handler = _RowCollector()
    xml.sax.parse(str(path), handler)
    return tuple(handler.rows)


def expected_value(table: Table, column_name: str, attributes: dict[str, str]) -> object:
    """What the loader must write for one attribute, decided independently of the loader."""
    column = table.column(column_name)
    raw = attributes.get(column_name)
    if raw is None:
        if column.nullable:
            return None
        return 0 if column.sql_type == "int" else ""
    if column.sql_type == "int":
        return int(raw)
    if column.sql_type == "datetime":
        return dt.datetime.fromisoformat(raw)
    return raw


def fetch_by_id(url: str, table: Table, columns: list[str]) -> dict[int, tuple]:
    """``{Id: (columns...)}`` from the loaded table."""
    conn = connect(url)
    try:
        select = ", ".join(identifier(c) for c in ["Id", *columns])
        rows = conn.run(f"SELECT {select} FROM {identifier(table.name)}")
    finally:
        conn.close()
    return {row[0]: tuple(row[1:]) for row in rows}


def query(url: str, sql: str) -> list[list]:
    conn = connect(url)
    try:
        return conn.run(sql)
    finally:
        conn.close()


@pytest.fixture(autouse=True)
def _needs_dumps() -> None:
    require_stackexchange_dir()


@pytest.fixture
def iota_report(fresh_database: str) -> LoadReport:
    return load_dump(IOTA, fresh_database)


@pytest.mark.parametrize("site", SITES, ids=[s.name for s in SITES])
def test_row_counts_match_the_xml_and_lookups_are_seeded(site: Path, fresh_database: str) -> None:
    report = load_dump(site, fresh_database)

    for file_name, table_name in DUMP_FILES.items():
        path = site / file_name
        expected = xml_row_count(path) if path.exists() else 0
        assert report.rows[table_name] == expected, table_name
        assert query(fresh_database, f"SELECT count(*) FROM {identifier(table_name)}")[0][0] == expected
    for table_name, expected in (("VoteTypes", 15), ("PostTypes", 8), ("LinkTypes", 2)):
        assert report.rows[table_name] == expected
        rows = query(fresh_database, f"SELECT * FROM {identifier(table_name)} ORDER BY 1")
        assert [tuple(r) for r in rows] == list(LOOKUP_ROWS[table_name])


@pytest.mark.parametrize("site", SITES, ids=[s.name for s in SITES])
def test_every_value_equals_its_xml_attribute(site: Path, fresh_database: str) -> None:
    load_dump(site, fresh_database)

    for table in DATA_TABLES:
        path = site / f"{table.name}.xml"
        columns = [c.name for c in table.columns if c.name != "Id"]
        expected = {
            int(attrs["Id"]): tuple(expected_value(table, name, attrs) for name in columns)
            for attrs in (xml_rows(path) if path.exists() else ())
        }
        actual = fetch_by_id(fresh_database, table, columns)
        assert actual.keys() == expected.keys(), table.name
        for column_index, name in enumerate(columns):
            mismatched = [i for i in expected if actual[i][column_index] != expected[i][column_index]]
            assert not mismatched, f"{table.name}.{name} differs for Ids {mismatched[:10]}"


def test_iota_row_counts(iota_report: LoadReport) -> None:
    assert {name: iota_report.rows[name] for name in IOTA_ROWS} == IOTA_ROWS
    assert iota_report.skipped_files == ("PostHistory.xml", "Tags.xml")
    assert iota_report.missing_files == ()


def test_iota_post_bodies_are_byte_identical(iota_report: LoadReport, fresh_database: str) -> None:
    expected = {int(a["Id"]): a["Body"].encode() for a in xml_rows(IOTA / "Posts.xml")}
    rows = query(fresh_database, 'SELECT "Id", convert_to("Body", \'UTF8\') FROM "Posts"')
    actual = {row[0]: bytes(row[1]) for row in rows}

    assert actual == expected
    # The cases that a careless loader or COPY encoder would damage are really in this data.
    assert any(b"\r\n" in body for body in actual.values())
    assert any(body.endswith(b" ") for body in actual.values())
    assert any(body == b"" for body in actual.values())
    assert any(b"\\" in body for body in actual.values())


def test_iota_report_counts_ignored_attributes(iota_report: LoadReport) -> None:
    posts = xml_rows(IOTA / "Posts.xml")

    assert iota_report.ignored_attributes["Posts.OwnerDisplayName"] == sum("OwnerDisplayName" in a for a in posts)
    assert iota_report.ignored_attributes["Posts.ContentLicense"] == len(posts)
    assert "Posts.Body" not in iota_report.ignored_attributes
    assert "Posts.LastEditorDisplayName" not in iota_report.ignored_attributes  # a schema column


def test_absent_view_count_defaults_to_zero_and_is_counted(iota_report: LoadReport, fresh_database: str) -> None:
    without = [int(a["Id"]) for a in xml_rows(IOTA / "Posts.xml") if "ViewCount" not in a]
    zero = query(fresh_database, 'SELECT "Id" FROM "Posts" WHERE "ViewCount" = 0')

    assert without, "iota answers carry no ViewCount"
    assert iota_report.defaulted_columns["Posts.ViewCount"] == len(without)
    assert set(without) <= {row[0] for row in zero}


def test_votes_without_user_id_load_as_null(fresh_database: str) -> None:
    votes = xml_rows(BICYCLES_META / "Votes.xml")
    assert not any("UserId" in a or "BountyAmount" in a for a in votes)

    report = load_dump(BICYCLES_META, fresh_database)

    assert report.null_columns["Votes.UserId"] == len(votes)
    assert report.null_columns["Votes.BountyAmount"] == len(votes)
    nulls = query(fresh_database, 'SELECT count(*) FROM "Votes" WHERE "UserId" IS NULL AND "BountyAmount" IS NULL')
    assert nulls[0][0] == len(votes)


def test_cli_prints_the_row_counts(fresh_database: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "include.stackoverflow.load_dump", str(IOTA), "--url", fresh_database],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    for name, count in IOTA_ROWS.items():
        assert re.search(rf"^{name}\s+{count:,}$", result.stdout, re.MULTILINE), (name, result.stdout)
    assert "PostHistory.xml" in result.stdout
