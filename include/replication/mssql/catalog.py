"""SQL Server catalog reading: the sys.* rows of one schema as SourceTables.

The queries live in ``sql/*.sql`` (one per file, schema as a bound parameter) and return
the catalog's own values; turning bytes into characters and keeping precision/scale only where
they mean something happens here, where the unit tests can feed it the real catalog rows.
Table and column names are the declared ones (``sql/declared_names.sql``): where sys.* spells
a name otherwise (Babelfish lower-cases them), the declared spelling wins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from include.replication.models import ForeignKey, Index, SourceColumn, SourceTable
from include.replication.mssql.dialect import fetch_all, qualified, quote
from include.replication.partitions import KeyDistribution, cumulative_points

CATALOG_SQL: dict[str, str] = {p.stem: p.read_text() for p in (Path(__file__).parent / "sql").glob("*.sql")}
QUANTILE_POINTS = 200  # points of the exact distribution when the key has no statistics

MAX = -1  # sys.columns.max_length of (max) types
_LENGTH_IN_BYTES = ("char", "varchar", "binary", "varbinary")
_TWO_BYTES_PER_CHARACTER = ("nchar", "nvarchar")  # UTF-16 code units: max_length is twice the declared n
_WITH_PRECISION = ("decimal", "numeric", "float", "real")  # float(n): n is mantissa bits, stored as 24 or 53
_WITH_SCALE = ("decimal", "numeric", "time", "datetime2", "datetimeoffset")  # temporal: fraction digits


def source_column(
    name: str, data_type: str, max_length: int, precision: int, scale: int, nullable: bool, identity: bool
) -> SourceColumn:
    """One sys.columns row as a SourceColumn: length in characters, precision/scale only where meaningful."""
    kind = data_type.lower()
    if kind in _LENGTH_IN_BYTES:
        length: int | None = max_length
    elif kind in _TWO_BYTES_PER_CHARACTER:
        length = MAX if max_length == MAX else max_length // 2
    else:
        length = None
    return SourceColumn(
        name=name,
        data_type=kind,
        nullable=bool(nullable),
        char_length=length,
        precision=precision if kind in _WITH_PRECISION else None,
        scale=scale if kind in _WITH_SCALE else None,
        identity=bool(identity),
    )


class DeclaredNames:
    """Table and column names as INFORMATION_SCHEMA reports them, looked up by the sys.* spelling."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._tables = {table: table for table, _ in rows}
        self._columns = {(table, column): column for table, column in rows}
        self._folded_tables = {table.casefold(): table for table in self._tables}
        self._folded_columns = {(table, column.casefold()): column for table, column in self._columns}

    def table(self, name: str) -> str:
        """The declared name of table ``name``: itself when sys.* agrees, else the one equal to it ignoring case."""
        return name if name in self._tables else self._folded_tables.get(name.casefold(), name)

    def column(self, table: str, name: str) -> str:
        """The declared name of column ``name`` of (declared) ``table``."""
        if (table, name) in self._columns:
            return name
        return self._folded_columns.get((table, name.casefold()), name)


def fetch_tables(conn: Any, schema: str) -> list[SourceTable]:
    """Read every base table of ``schema`` with columns, primary key, foreign keys and indexes."""
    tables, column_rows, key_rows, foreign_rows, index_rows, declared_rows = (
        fetch_all(conn, CATALOG_SQL[name], {"schema": schema})
        for name in (
            "list_tables", "list_columns", "list_primary_keys", "list_foreign_keys", "list_indexes", "declared_names"
        )
    )  # fmt: skip
    declared = DeclaredNames(declared_rows)

    columns: dict[str, list[SourceColumn]] = {}
    for table, name, *column in column_rows:
        table = declared.table(table)
        columns.setdefault(table, []).append(source_column(declared.column(table, name), *column))
    keys: dict[str, list[str]] = {}
    for table, column in key_rows:
        table = declared.table(table)
        keys.setdefault(table, []).append(declared.column(table, column))
    # rows come one per column pair / key column, in order: group them by constraint
    foreign: dict[str, dict[str, tuple[list[str], str, str, list[str]]]] = {}
    for table, name, column, ref_schema, ref_table, ref_column in foreign_rows:
        table = declared.table(table)
        if ref_schema == schema:
            ref_table = declared.table(ref_table)
            ref_column = declared.column(ref_table, ref_column)
        pair = foreign.setdefault(table, {}).setdefault(name, ([], ref_schema, ref_table, []))
        pair[0].append(declared.column(table, column))
        pair[3].append(ref_column)
    indexes: dict[str, dict[str, tuple[bool, list[str]]]] = {}
    for table, name, unique, column in index_rows:
        table = declared.table(table)
        indexes.setdefault(table, {}).setdefault(name, (bool(unique), []))[1].append(declared.column(table, column))

    return [
        SourceTable(
            schema=schema,
            name=table,
            columns=tuple(columns.get(table, ())),
            primary_key=tuple(keys.get(table, ())),
            foreign_keys=tuple(
                ForeignKey(name, tuple(cols), ref_schema, ref_table, tuple(ref_cols))
                for name, (cols, ref_schema, ref_table, ref_cols) in foreign.get(table, {}).items()
            ),
            indexes=tuple(Index(name, tuple(cols), unique) for name, (unique, cols) in indexes.get(table, {}).items()),
            approx_rows=int(approx),
        )
        for table, approx in ((declared.table(t), a) for t, a in tables)
    ]


def key_distribution(conn: Any, table: SourceTable, key: str, *, histogram: bool = True) -> KeyDistribution:
    """The key's distribution from its statistics histogram; exact quantiles without one (or without the DMF)."""
    total = table.approx_rows  # sys.partitions.rows: kept current by the engine, unlike the histogram
    basis = "exact quantiles: this server has no sys.dm_db_stats_histogram"
    if histogram:
        steps = fetch_all(conn, CATALOG_SQL["key_histogram"], {"qualified": qualified(table), "key": key})
        points = cumulative_points([(int(k), float(r), float(e)) for k, r, e in steps])
        if points and points[-1][1] > 0 and total > 0:
            scale = total / points[-1][1]  # statistics lag behind inserts: stretch them to today's count
            return KeyDistribution(total, [(k, c * scale) for k, c in points], "statistics histogram")
        basis = "exact quantiles: no statistics on the key"
    k = quote(key)
    rows = fetch_all(
        conn,
        f"SELECT q.k, q.rn FROM (SELECT {k} AS k, ROW_NUMBER() OVER (ORDER BY {k}) AS rn, COUNT_BIG(*) OVER () AS total "
        f"FROM {qualified(table)}) AS q "
        f"WHERE q.rn % CASE WHEN q.total / {QUANTILE_POINTS} > 0 THEN q.total / {QUANTILE_POINTS} ELSE 1 END = 0 "
        "OR q.rn = 1 OR q.rn = q.total ORDER BY q.rn",
    )
    return KeyDistribution(int(rows[-1][1]) if rows else 0, [(int(k_), float(rn)) for k_, rn in rows], basis)
