"""Every row of the SQL Server -> PostgreSQL type table (PRODUCT §5), and the unknown-type error."""

from __future__ import annotations

import pytest

from include.replication.models import SourceColumn, SourceTable
from include.replication.mssql.types import SQLSERVER_TYPES, map_column
from include.replication.plan import UnsupportedTypeError
from include.replication.postgres import types as postgres_types

CASES = [
    ("bit", {}, "boolean"),
    ("tinyint", {}, "smallint"),
    ("smallint", {}, "smallint"),
    ("int", {}, "integer"),
    ("bigint", {}, "bigint"),
    ("decimal", {"precision": 18, "scale": 4}, "numeric(18,4)"),
    ("numeric", {"precision": 38, "scale": 0}, "numeric(38,0)"),
    ("money", {}, "numeric(19,4)"),
    ("smallmoney", {}, "numeric(10,4)"),
    ("float", {"precision": 53}, "double precision"),
    ("float", {"precision": 24}, "real"),
    ("real", {"precision": 24}, "real"),
    ("date", {}, "date"),
    ("time", {"scale": 7}, "time(6)"),
    ("time", {"scale": 3}, "time(3)"),
    ("datetime", {}, "timestamp(3)"),
    ("smalldatetime", {}, "timestamp(0)"),
    ("datetime2", {"scale": 7}, "timestamp(6)"),
    ("datetime2", {"scale": 0}, "timestamp(0)"),
    ("datetimeoffset", {"scale": 7}, "timestamptz"),
    ("char", {"char_length": 10}, "char(10)"),
    ("nchar", {"char_length": 10}, "char(10)"),
    ("varchar", {"char_length": 50}, "varchar(50)"),
    ("nvarchar", {"char_length": 40}, "varchar(40)"),
    ("varchar", {"char_length": -1}, "text"),
    ("nvarchar", {"char_length": -1}, "text"),
    ("sysname", {"char_length": 128}, "varchar(128)"),
    ("text", {}, "text"),
    ("ntext", {}, "text"),
    ("binary", {"char_length": 16}, "bytea"),
    ("varbinary", {"char_length": -1}, "bytea"),
    ("image", {}, "bytea"),
    ("rowversion", {}, "bytea"),
    ("timestamp", {}, "bytea"),
    ("uniqueidentifier", {}, "uuid"),
    ("xml", {}, "xml"),
    ("sql_variant", {}, "text"),
    ("hierarchyid", {}, "text"),
    ("geography", {}, "text"),
    ("geometry", {}, "text"),
]


@pytest.mark.parametrize(("sql_type", "attrs", "pg_type"), CASES, ids=[f"{c[0]}{c[1] or ''}" for c in CASES])
def test_sqlserver_type_maps(sql_type, attrs, pg_type):
    """Each SQL Server type lands on the PostgreSQL type PRODUCT §5 names; nullability and identity are kept."""
    column = SourceColumn("c", sql_type, nullable=False, identity=sql_type == "int", **attrs)
    mapped = map_column("dbo.T", column)
    assert (mapped.data_type, mapped.nullable, mapped.identity) == (pg_type, False, sql_type == "int")


def test_every_table_row_is_tested():
    """No row of the mapping table goes untested."""
    assert {c[0] for c in CASES} == set(SQLSERVER_TYPES)


def test_unknown_type_names_table_column_and_type():
    """An unknown type fails before any data moves, naming table, column and type."""
    with pytest.raises(UnsupportedTypeError, match=r"dbo\.Users\.Shape: SQL Server type 'vector'"):
        map_column("dbo.Users", SourceColumn("Shape", "vector", True))


@pytest.mark.parametrize(
    "pg_type",
    ["integer", "character varying(40)", "timestamp(3) without time zone", "numeric(12,4)", "text[]", "jsonb", "uuid"],
)
def test_postgres_types_pass_through(pg_type):
    """PostgreSQL to PostgreSQL keeps the type text exactly."""
    assert postgres_types.map_column("public.T", SourceColumn("c", pg_type, True)).data_type == pg_type


def test_postgres_unknown_type_fails_early():
    """A user-defined PostgreSQL type is refused with its table, column and type."""
    table = SourceTable("public", "T", (SourceColumn("mood", "mood_enum", True),))
    with pytest.raises(UnsupportedTypeError, match=r"public\.T\.mood: PostgreSQL type 'mood_enum'"):
        postgres_types.map_table(table)
