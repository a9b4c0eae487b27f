"""SQL Server types, one row each: the PostgreSQL type, how a value is read, how it is hashed for verification.

The shape of pgloader's cast rules (``src/sources/mssql/mssql-cast-rules.lisp``): everything this
project knows about a type is on its row. An unknown type fails before any data moves, naming
table, column and type (``UnsupportedTypeError``).

``read`` is the T-SQL that reads the value, ``{col}`` the quoted column. pymssql (2.4.6, over
FreeTDS) returns most types faithfully; the ones read as something else are read so in every TDS
version:

- ``datetime2``, ``time``: ISO text truncated (not rounded) to 6 fraction digits. pymssql fails
  on ``9999-12-31 23:59:59.9999999`` ("hour must be in 0..23", pymssql issues #662, #695, #792),
  and under TDS < 7.3 these types arrive as strings anyway (pymssql 2.1.4 changelog). PostgreSQL
  keeps microseconds, and truncation keeps ``...59.999999`` in range where rounding would step
  into year 10000.
- ``datetimeoffset``: the UTC instant, ``YYYY-MM-DD HH:MM:SS.ffffff+00`` (truncated like
  datetime2), which PostgreSQL parses into ``timestamptz``. pymssql returned the raw TDS bytes
  under TDS 7.3 until 2024 (issue #649) and a string under TDS < 7.3; decoding bytes would tie us
  to one layout. Styles 126/127 drop an all-zero fraction and keep 7 digits, which PostgreSQL
  would round; the fixed-width text here is also the checksum's canonical text, unchanged.
- ``money``/``smallmoney``: ``decimal(19,4)``/``decimal(10,4)``. pymssql renders money through
  FreeTDS ``dbconvert`` to text, which prints two fraction digits when the context's
  ``money_use_2_digits`` is set (FreeTDS issue #237, ``src/tds/convert.c``).
- ``xml``, ``sql_variant``, CLR types: as text; no Python driver returns them usefully.

Read natively, and exact: ``datetime`` (FreeTDS ``tds_datecrack`` rounds the 1/300 s tick to the
millisecond SQL Server displays: ``((ticks % 300) * 1000 + 150) / 300``), ``uniqueidentifier``
(``uuid.UUID(bytes_le=...)`` in ``_mssql.pyx``: display order), decimal (``Decimal`` of
FreeTDS's text, all ``s`` digits), bit (``bool``), tinyint (unsigned), binary types (``bytes``).

``canonical`` is the value's canonical text (the contract in ``verify.py``): what PostgreSQL
prints for the mapped target type. Either a T-SQL template (``{col}`` the column, ``{value}`` the
read expression) or one of the ``Canonical`` kinds that not every server can write in T-SQL
(UTF-8 text needs a ``_UTF8`` collation, hex needs CONVERT style 2); ``checksums.py`` renders a
kind in T-SQL where the server can, and finishes it in Python where it cannot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from include.replication.models import SourceColumn, SourceTable, TargetColumn
from include.replication.plan import UnsupportedTypeError

MAX_LENGTH = -1  # varchar(max) and friends, as the catalog reports them
PG_MAX_FRACTIONAL_DIGITS = 6  # PostgreSQL time/timestamp stop at microseconds; SQL Server goes to 100 ns


class Canonical(Enum):
    """Canonical texts that some servers cannot write in T-SQL (``checksums.py`` renders them)."""

    TEXT = "text"  # the characters, hashed as UTF-8; NUL removed under nul_policy=strip
    PADDED_TEXT = "padded text"  # the same without char(n)'s trailing spaces (PostgreSQL's ::text drops them)
    HEX = "hex"  # the bytes as lowercase hex
    FLOAT_BITS = "float bits"  # the IEEE 754 bits of the value widened to float, big-endian, lowercase hex


@dataclass(frozen=True)
class Load:
    """How a COPY text field becomes a T-SQL value in a SQL Server target's INSERT.

    ``template`` wraps the parameter (``{type}`` is the column's T-SQL type); ``parse`` turns the
    field's text into what pymssql substitutes: str as N'...', int as digits, bytes as 0x....
    """

    template: str = "%s"
    parse: Callable[[str], object] = str


@dataclass(frozen=True)
class SqlServerType:
    """How one SQL Server type is copied: its PostgreSQL type, how it is read, how it is hashed.

    For a SQL Server target the type is kept (``kept_as`` where it cannot be: a rowversion is
    written by the server, so its bytes land in binary(8)); ``exact_read`` reads every digit the
    type holds, and ``load`` writes the value back.
    """

    target: Callable[[SourceColumn], str]
    canonical: str | Canonical
    read: str = "{col}"
    exact_read: str = "{col}"
    load: Load = Load()
    kept_as: str | None = None


def _fixed(pg_type: str) -> Callable[[SourceColumn], str]:
    return lambda column: pg_type


def _fraction(column: SourceColumn) -> int:
    return min(column.scale if column.scale is not None else 7, PG_MAX_FRACTIONAL_DIGITS)


def _string(base: str) -> Callable[[SourceColumn], str]:
    def target(column: SourceColumn) -> str:
        if column.char_length is None or column.char_length == MAX_LENGTH:
            return "text"
        return f"{base}({column.char_length})"

    return target


def _numeric(column: SourceColumn) -> str:
    return f"numeric({column.precision},{column.scale or 0})"


def _float(column: SourceColumn) -> str:
    # float(n): n is the mantissa bits; SQL Server stores n <= 24 as 4-byte real
    return "real" if column.precision is not None and column.precision <= 24 else "double precision"


# Read expressions: seconds from styles 120 and 108, then always six fraction digits from
# DATEPART(microsecond), which truncates the 7th (see above). Not style 121 of datetime2(7): it
# is fixed-width on SQL Server but drops an all-zero fraction on Babelfish ("12:00:00"), and this
# text is also the checksum's canonical text. Converting datetimeoffset to datetime2 keeps the
# local clock and drops the offset, so it goes to UTC first.
_MICROSECONDS = "'.' + RIGHT('00000' + CONVERT(varchar(6), DATEPART(microsecond, {col})), 6)"
TIMESTAMP_TEXT = "CONVERT(varchar(19), {col}, 120) + " + _MICROSECONDS
TIME_TEXT = "CONVERT(varchar(8), {col}, 108) + " + _MICROSECONDS
UTC_TEXT = TIMESTAMP_TEXT.format(col="CONVERT(datetime2(7), SWITCHOFFSET({col}, '+00:00'))") + " + '+00'"

# Loads into a SQL Server target, shared by several rows (COPY text fields, as copy/text_format.py writes them)
INTEGER = Load("%s", int)
BIT = Load("%s", lambda v: 1 if v == "t" else 0)
CONVERTED = Load("CONVERT({type}, %s)")  # exact from text: decimal, float (shortest round-trip), uuid, ...
STYLE_121 = Load("CONVERT({type}, %s, 121)")
BYTES = Load("%s", lambda v: bytes.fromhex(v[2:]))  # COPY's bytea "\\x..." arrives unescaped as "\x..."
FROM_BYTES = Load("CONVERT({type}, %s)", lambda v: bytes.fromhex(v[2:]))  # geography from its serialization
# datetime arrives as Python's isoformat, six fraction digits, which datetime's parser refuses; its
# value is whole milliseconds, so the first three carry it all (a conversion through datetime2
# would do too, at five times the cost on Babelfish: 5,000 Posts inserted in 24.4 s against 4.5 s)
DATETIME = Load("CONVERT({type}, %s, 121)", lambda v: v[:23])
EXACT_TEXT = "CONVERT(varchar(34), {col}, 121)"  # every digit of datetime2(7), time(7), datetimeoffset(7)
MONEY = "CONVERT(decimal(19,4), {col})"
SMALLMONEY = "CONVERT(decimal(10,4), {col})"
AS_NVARCHAR = "CONVERT(nvarchar(max), {col})"
VARIANT_TEXT = "CONVERT(nvarchar(4000), {col})"
PATH = "{col}.ToString()"
WKT = "{col}.STAsText()"
SERIALIZED = "CONVERT(varbinary(max), {col})"

# Canonical texts shared by several rows
DIGITS = "CONVERT(varchar(20), {col})"
DECIMAL = "CONVERT(varchar(41), {value})"  # plain digits, exactly `scale` of them after the point
AS_READ = "{value}"  # the read text already is the canonical text
TEXT, PADDED_TEXT, HEX, FLOAT_BITS = Canonical.TEXT, Canonical.PADDED_TEXT, Canonical.HEX, Canonical.FLOAT_BITS

SQLSERVER_TYPES: dict[str, SqlServerType] = {
    "bit": SqlServerType(_fixed("boolean"), "CASE WHEN {col} = 1 THEN 't' ELSE 'f' END", load=BIT),
    "tinyint": SqlServerType(_fixed("smallint"), DIGITS, load=INTEGER),  # 0..255; PostgreSQL has no one-byte integer
    "smallint": SqlServerType(_fixed("smallint"), DIGITS, load=INTEGER),
    "int": SqlServerType(_fixed("integer"), DIGITS, load=INTEGER),
    "bigint": SqlServerType(_fixed("bigint"), DIGITS, load=INTEGER),
    "decimal": SqlServerType(_numeric, DECIMAL, load=CONVERTED),
    "numeric": SqlServerType(_numeric, DECIMAL, load=CONVERTED),
    # PostgreSQL money is locale-dependent: exact numeric instead
    "money": SqlServerType(_fixed("numeric(19,4)"), DECIMAL, read=MONEY, exact_read=MONEY, load=CONVERTED),
    "smallmoney": SqlServerType(
        _fixed("numeric(10,4)"), DECIMAL, read=SMALLMONEY, exact_read=SMALLMONEY, load=CONVERTED
    ),  # fmt: skip
    "float": SqlServerType(_float, FLOAT_BITS, load=CONVERTED),
    "real": SqlServerType(_fixed("real"), FLOAT_BITS, load=CONVERTED),
    "date": SqlServerType(_fixed("date"), "CONVERT(varchar(10), {col}, 23)", load=Load("CONVERT(date, %s, 23)")),
    "time": SqlServerType(
        lambda c: f"time({_fraction(c)})", AS_READ, read=TIME_TEXT, exact_read=EXACT_TEXT, load=CONVERTED
    ),  # fmt: skip
    # 1/300 s ticks fit in milliseconds; hashed from style 121, never via datetime2 (.997 -> .9966667)
    "datetime": SqlServerType(_fixed("timestamp(3)"), "CONVERT(varchar(23), {col}, 121) + '000'", load=DATETIME),
    "smalldatetime": SqlServerType(
        _fixed("timestamp(0)"), "CONVERT(varchar(19), {col}, 120) + '.000000'", load=DATETIME
    ),  # fmt: skip
    "datetime2": SqlServerType(
        lambda c: f"timestamp({_fraction(c)})", AS_READ, read=TIMESTAMP_TEXT, exact_read=EXACT_TEXT, load=STYLE_121
    ),  # fmt: skip
    # the instant is kept; the original offset is not (a SQL Server target keeps both)
    "datetimeoffset": SqlServerType(
        _fixed("timestamptz"), AS_READ, read=UTC_TEXT, exact_read=EXACT_TEXT, load=STYLE_121
    ),  # fmt: skip
    "char": SqlServerType(_string("char"), PADDED_TEXT),
    "nchar": SqlServerType(_string("char"), PADDED_TEXT),
    "varchar": SqlServerType(_string("varchar"), TEXT),
    "nvarchar": SqlServerType(_string("varchar"), TEXT),
    "sysname": SqlServerType(_fixed("varchar(128)"), TEXT),  # alias of nvarchar(128), in catalog-like tables
    "text": SqlServerType(_fixed("text"), TEXT),
    "ntext": SqlServerType(_fixed("text"), TEXT),
    "binary": SqlServerType(_fixed("bytea"), HEX, load=BYTES),
    "varbinary": SqlServerType(_fixed("bytea"), HEX, load=BYTES),
    "image": SqlServerType(_fixed("bytea"), HEX, load=BYTES),
    # written by the server: a SQL Server target keeps the bytes in binary(8)
    "rowversion": SqlServerType(_fixed("bytea"), HEX, load=BYTES, kept_as="binary(8)"),
    # SQL Server's "timestamp" is rowversion, not a date
    "timestamp": SqlServerType(_fixed("bytea"), HEX, load=BYTES, kept_as="binary(8)"),
    # display byte order
    "uniqueidentifier": SqlServerType(_fixed("uuid"), "LOWER(CONVERT(varchar(36), {col}))", load=CONVERTED),
    "xml": SqlServerType(_fixed("xml"), TEXT, read=AS_NVARCHAR, exact_read=AS_NVARCHAR),
    # the value as text: a SQL Server target gets it back as an nvarchar sql_variant (its base type is lost)
    "sql_variant": SqlServerType(_fixed("text"), TEXT, read=VARIANT_TEXT, exact_read=VARIANT_TEXT),
    # canonical path such as /1/3/
    "hierarchyid": SqlServerType(_fixed("text"), TEXT, read=PATH, exact_read=PATH, load=CONVERTED),
    # WKT; the SRID is not carried to PostgreSQL; a SQL Server target gets the serialized value, SRID and all
    "geography": SqlServerType(_fixed("text"), TEXT, read=WKT, exact_read=SERIALIZED, load=FROM_BYTES),
    "geometry": SqlServerType(_fixed("text"), TEXT, read=WKT, exact_read=SERIALIZED, load=FROM_BYTES),
}


def type_of(column: SourceColumn, *, table: str = "") -> SqlServerType:
    """The row for ``column``'s type, or ``UnsupportedTypeError`` naming table, column and type."""
    rule = SQLSERVER_TYPES.get(column.data_type.lower())
    if rule is None:
        where = f"{table}.{column.name}" if table else column.name
        raise UnsupportedTypeError(f"{where}: SQL Server type {column.data_type!r} has no PostgreSQL mapping")
    return rule


def map_column(table: str, column: SourceColumn) -> TargetColumn:
    """The PostgreSQL column for one SQL Server column."""
    return TargetColumn(column.name, type_of(column, table=table).target(column), column.nullable, column.identity)


def map_table(table: SourceTable) -> tuple[TargetColumn, ...]:
    """Every column of ``table``; all errors before any data moves."""
    return tuple(map_column(table.qualified, c) for c in table.columns)


def read_expression(column: SourceColumn, quoted: str) -> str:
    """The T-SQL that reads ``column`` (``quoted``: its quoted, possibly qualified, name)."""
    return type_of(column).read.format(col=quoted)


def kept_type(column: SourceColumn) -> str:
    """The column's own T-SQL type, as a SQL Server target declares it (lengths, precision, scale kept)."""
    kind = column.data_type.lower()
    rule = type_of(column)
    if rule.kept_as:
        return rule.kept_as
    if kind in ("char", "varchar", "binary", "varbinary", "nchar", "nvarchar"):
        return f"{kind}({'max' if column.char_length in (None, MAX_LENGTH) else column.char_length})"
    if kind in ("decimal", "numeric"):
        return f"{kind}({column.precision},{column.scale or 0})"
    if kind == "float":  # float(n <= 24) is stored as real, and the catalog says so
        return "real" if column.precision is not None and column.precision <= 24 else "float"
    if kind in ("time", "datetime2", "datetimeoffset"):
        return f"{kind}({7 if column.scale is None else column.scale})"
    return kind


def keep_table(table: SourceTable) -> tuple[TargetColumn, ...]:
    """Every column of ``table`` with its own type, for a SQL Server target; unknown types fail here."""
    return tuple(TargetColumn(c.name, kept_type(c), c.nullable, c.identity) for c in table.columns)


def exact_read_expression(column: SourceColumn, quoted: str) -> str:
    """The T-SQL that reads every digit of ``column`` for a SQL Server target."""
    return type_of(column).exact_read.format(col=quoted)
